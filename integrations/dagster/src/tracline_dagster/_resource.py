"""``TraclineResource``: tracline's configuration as a Dagster resource.

    defs = dg.Definitions(assets=[...], resources={"tracline": TraclineResource()})

The resource says where tracline's configuration lives (a ``tracline.toml`` in
``project_dir`` or a folder above it, else the process's working directory) and what to
override in it. Fixed values are checked when the resource is built — that is, when the
Definitions load — so a bad namespace or a broken ``tracline.toml`` fails there with the
reason and what to do, not in the middle of a run. Values that Dagster fills in at launch
(:class:`dagster.EnvVar`) are checked when a run first uses the resource.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from tracline.approvals import Requests, open_requests
from tracline.config import Config, load_config
from tracline.errors import ConfigError

__all__ = ["TraclineResource"]

_RESOURCE = "TraclineResource"


def _fixed(value: Any) -> bool:
    """True for a value given in code (not one Dagster resolves at launch)."""
    return value is None or isinstance(value, str | bool)


class TraclineResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Where tracline keeps its configuration, outbox and request store for these assets."""

    project_dir: str | None = Field(
        default=None,
        description="Folder whose tracline.toml (here or in a folder above) configures "
        "tracline; default: the working directory of the Dagster process.",
    )
    home: str | None = Field(
        default=None,
        description="tracline's state folder (outbox, registry, request store); default: "
        "[tracline] home of tracline.toml, else .tracline.",
    )
    namespace: str | None = Field(
        default=None, description="OpenLineage namespace of the jobs; default: tracline.toml's."
    )
    enabled: bool = Field(
        default=True,
        description="False turns capture and emission off (the approval sensor still gates: "
        "it never launches without an approval).",
    )

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        if all(_fixed(getattr(self, k)) for k in ("project_dir", "home", "namespace", "enabled")):
            self.tracline_config()

    def tracline_config(self) -> Config:
        """tracline's :class:`~tracline.config.Config` as this resource sets it up (read
        afresh: a ``tracline.toml`` edited while Dagster runs is seen by the next run).

        Raises :class:`~tracline.errors.ConfigError` naming the field and what to do.
        """
        base = self.project_dir
        if base is not None:
            if not str(base).strip():
                raise ConfigError(f"{_RESOURCE}.project_dir is empty",
                                  hint="name the folder that holds tracline.toml, or leave "
                                  "project_dir out to use the working directory")
            if not Path(base).is_dir():
                raise ConfigError(f"{_RESOURCE}.project_dir {base!r} is not a folder",
                                  hint="name the folder that holds tracline.toml")
        environ = dict(os.environ)
        if self.home is not None:
            if not str(self.home).strip():
                raise ConfigError(f"{_RESOURCE}.home is empty",
                                  hint="name a folder for tracline's state, e.g. '.tracline', "
                                  "or leave home out")
            environ["TRACLINE_HOME"] = str(Path(base or ".", self.home))
        if self.namespace is not None:
            if not str(self.namespace).strip():
                raise ConfigError(f"{_RESOURCE}.namespace is empty",
                                  hint="set a namespace such as 'ml-team', or leave it out to "
                                  "use tracline.toml's")
            environ["TRACLINE_NAMESPACE"] = str(self.namespace)
        if not self.enabled:
            environ["TRACLINE_DISABLED"] = "1"
        try:
            config = load_config(environ, cwd=base)
        except ConfigError as e:
            raise ConfigError(f"{_RESOURCE}: {e.message}", hint=e.hint) from e
        return config

    def requests(self) -> Requests:
        """The training-request service of this configuration (close it when done)."""
        return open_requests(self.tracline_config())
