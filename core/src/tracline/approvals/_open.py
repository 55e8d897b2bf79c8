"""``open_requests``: the requests of a configuration, on the team server or in the local store.

Apart from the rest of the package, so that an approval gate talking to the team server (an
orchestrator task, a Prefect flow run starting) loads neither SQLAlchemy nor the local store.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tracline.approvals._remote import RemoteRequests
    from tracline.approvals._service import RequestService
    from tracline.config import Config

__all__ = ["open_requests"]


def open_requests(config: Config | None = None) -> RequestService | RemoteRequests:
    """The requests of this configuration: the team server's when ``TRACLINE_URL`` (or
    ``[server] url``) is set (a :class:`RemoteRequests` with the same methods and errors),
    else the local store (``[requests] url`` or the registry URL)."""
    from tracline.approvals._remote import RemoteRequests, server_token, server_url
    from tracline.config import get_config

    config = config or get_config()
    url = server_url(config)
    if url:
        return RemoteRequests(url, server_token(config), config)
    from tracline.approvals._service import RequestService

    return RequestService(config=config)
