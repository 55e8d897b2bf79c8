"""Where a lineage question is answered: the local registry, Marquez, or the first that knows.

``source="auto"`` (the default) asks the registry the configuration names and, when it does
not know the artifact and a Marquez is configured (``[marquez] url``, or a sink of type
``marquez``), asks Marquez — lineage made on other machines is only there. ``"local"`` and
``"marquez"`` ask only that one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tracline.db import display_url
from tracline.errors import NotFound, ValidationError
from tracline.registry import LineageStore

__all__ = ["SOURCES", "ask"]

SOURCES = ("auto", "local", "marquez")
T = TypeVar("T")


def _marquez() -> LineageStore | None:
    from tracline.config import get_config
    from tracline.marquez import marquez_settings, open_marquez

    config = get_config()
    return open_marquez(config) if marquez_settings(config).url else None


def _is_marquez(store: LineageStore | None) -> bool:
    return store is not None and store.url.startswith("Marquez")


def ask(question: Callable[[LineageStore], T], *, registry: LineageStore | None = None,
        source: str = "auto") -> tuple[T, LineageStore]:
    """``question(store)`` from the store ``source`` names; ``registry`` is the local store to
    use (default: the configured registry), or a Marquez store to ask it only."""
    if source not in SOURCES:
        raise ValidationError("source", f"unknown lineage source {source!r}",
                              hint=f"use one of {', '.join(SOURCES)}")
    if source == "marquez" or _is_marquez(registry):
        from tracline.marquez import open_marquez

        store = registry if _is_marquez(registry) else open_marquez()
        assert store is not None
        return question(store), store
    from tracline.lineage._common import open_registry

    local = open_registry(registry)
    try:
        return question(local), local
    except NotFound as unknown:
        marquez = _marquez() if source == "auto" else None
        if marquez is None:
            raise
        try:
            return question(marquez), marquez
        except NotFound as e:
            raise NotFound(f"{unknown}; {display_url(marquez.url)} does not know it either: {e}",
                           hint="record the run that made it, or check the path or digest"
                           ) from e
