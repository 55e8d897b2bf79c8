"""A request that is not in the store says which store was asked, without its password."""

from __future__ import annotations

import pytest

from tracline.approvals import RequestService
from tracline.config import load_config
from tracline.errors import NotFound


def test_missing_request_names_the_store_asked(tmp_path, store_url: str) -> None:  # type: ignore[no-untyped-def]
    """NotFound names the store's URL (password hidden) and says that filer, approver and
    gate must share it — what a gate reading another store than the CLI needs to show."""
    config = load_config(environ={}, cwd=tmp_path)
    service = RequestService(store_url, config=config)
    try:
        with pytest.raises(NotFound) as caught:
            service.get("req-elsewhere")
    finally:
        service.close()
    message = str(caught.value)
    assert "no training request 'req-elsewhere' in the request store at " in message
    shown = message.split(" in the request store at ", 1)[1].split(";", 1)[0].split("\n", 1)[0]
    assert shown.startswith(store_url.split("://", 1)[0])
    if "@" in store_url:  # PostgreSQL: user:password@host
        password = store_url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
        assert f":{password}@" not in message and ":***@" in message
    assert "must use the same store" in message
