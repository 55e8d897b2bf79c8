"""tracline's HTTP server (`tracline serve`)."""

from tracline.server._lineage import LineageServer, check_event

__all__ = ["LineageServer", "check_event"]
