"""Reading lineage back from Marquez: the same trace and receipt, for runs made elsewhere.

    from tracline.marquez import open_marquez
    from tracline.lineage import receipt

    made = receipt("models/model.bin", registry=open_marquez())   # or: source="marquez"

:class:`MarquezStore` answers the questions :mod:`tracline.lineage` asks of a store from
Marquez's API (through marquez-python); ``[marquez]`` in tracline.toml says where it is.
"""

from __future__ import annotations

from tracline.marquez._settings import MarquezSettings, marquez_settings, web_link

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tracline.config import Config
    from tracline.marquez._store import MarquezStore

__all__ = ["MarquezSettings", "MarquezStore", "marquez_settings", "open_marquez", "web_link"]


def open_marquez(config: Config | None = None) -> MarquezStore:
    """The configured Marquez as a lineage store; :class:`StoreError` when none is set."""
    from tracline.config import get_config
    from tracline.marquez._store import MarquezStore

    return MarquezStore(marquez_settings(config or get_config()))


def __getattr__(name: str) -> object:
    if name == "MarquezStore":
        from tracline.marquez._store import MarquezStore

        return MarquezStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
