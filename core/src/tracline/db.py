"""Database engines for the registry and the request store: SQLite (embedded default) and
PostgreSQL, through the same SQLAlchemy Core code."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from tracline.errors import ConfigError

__all__ = ["display_url", "make_engine"]

#: The password of a URL's user (``scheme://user:PASSWORD@host``), wherever it appears in a text.
_PASSWORD = re.compile(r"(//[^/:@\s]*):[^@/\s]*@")


def display_url(text: str) -> str:
    """``text`` (a database or HTTP URL, or a message holding one) with every URL password
    replaced by ``***``: the form of a URL that messages, logs and output may show."""
    return _PASSWORD.sub(r"\1:***@", text)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url`` (``sqlite:///path`` or ``postgresql://...``), with sane settings.

    ``postgresql://`` URLs use the psycopg 3 driver.
    """
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    try:
        if url.startswith("sqlite:"):
            path = url.split(":///", 1)[1] if ":///" in url else ""
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        return create_engine(url, pool_pre_ping=True)
    except NoSuchModuleError as e:
        raise ConfigError(
            f"unsupported database URL {display_url(url.split('://')[0])}://",
            hint="use sqlite:///path/to/file.db or postgresql://user:pass@host/db",
        ) from e
    except ModuleNotFoundError as e:
        raise ConfigError(
            f"the driver for {url.split('://')[0]} is not installed ({e.name})",
            hint="pip install 'tracline[postgres]' for PostgreSQL",
        ) from e
    except (ArgumentError, ValueError, OSError) as e:
        raise ConfigError(f"bad database URL: {display_url(str(e))}",
                          hint="check the registry url") from e
