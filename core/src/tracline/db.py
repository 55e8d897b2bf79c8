"""Database engines for the registry and the request store: SQLite (embedded default) and
PostgreSQL, through the same SQLAlchemy Core code."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from tracline import statefiles
from tracline._urls import display_url
from tracline.errors import ConfigError

__all__ = ["display_url", "make_engine", "sqlite_path"]

sqlite_path = statefiles.sqlite_path


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str, *, mode: int | None = None) -> Engine:
    """An engine for ``url`` (``sqlite:///path`` or ``postgresql://...``), with sane settings.

    ``postgresql://`` URLs use the psycopg 3 driver. A SQLite file that does not exist yet is
    created with permissions ``mode`` (default ``[tracline] file_mode``; its folder searchable
    only as far as ``mode`` reads).
    """
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    try:
        if url.startswith("sqlite:"):
            path = sqlite_path(url)
            if path is not None:
                mode = statefiles.configured_mode() if mode is None else mode
                statefiles.make_dirs(Path(path).parent, mode)
                try:
                    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode))
                    os.chmod(path, mode)
                except FileExistsError:
                    pass
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
