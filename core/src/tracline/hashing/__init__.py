"""Content hashing: ``blake3:<hex>`` digests of files and directories, with a stat cache.

    >>> from tracline.hashing import digest_path
    >>> digest_path("data/").digest  # doctest: +SKIP
    'blake3:...'

The digest format and the directory Merkle algorithm are specified in ``docs/hashing.md``.
"""

from __future__ import annotations

TYPE_CHECKING = False  # importing tracline.hashing loads nothing more (not even typing)
if TYPE_CHECKING:
    from tracline.hashing._api import DEFAULT_WORKERS, digest_file, digest_path
    from tracline.hashing._cache import SETTLE_NS, StatCache, default_cache, resolve_cache
    from tracline.hashing._digest import (
        ALGORITHMS,
        DEFAULT_ALGORITHM,
        Digest,
        check_algorithm,
        digest_bytes,
        parse_digest,
    )
    from tracline.hashing._file import Identity, hash_regular, identity, stat_many

#: Name -> submodule, loaded on first use: `tracline run` hashes files with ``_file`` alone,
#: without the directory walker's thread pool or the stat cache's set-up.
_EXPORTS = {
    "ALGORITHMS": "_digest", "DEFAULT_ALGORITHM": "_digest", "DEFAULT_WORKERS": "_api",
    "Digest": "_digest", "SETTLE_NS": "_cache", "StatCache": "_cache",
    "default_cache": "_cache", "digest_bytes": "_digest", "digest_file": "_api",
    "digest_path": "_api", "parse_digest": "_digest",
    # for capture, which hashes a run's files one by one as it sees them
    "Identity": "_file", "check_algorithm": "_digest", "hash_regular": "_file",
    "identity": "_file", "resolve_cache": "_cache", "stat_many": "_file",
}


def __getattr__(name: str) -> object:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f"tracline.hashing.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'tracline.hashing' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


__all__ = [
    "ALGORITHMS",
    "DEFAULT_ALGORITHM",
    "DEFAULT_WORKERS",
    "SETTLE_NS",
    "Digest",
    "Identity",
    "StatCache",
    "check_algorithm",
    "default_cache",
    "digest_bytes",
    "digest_file",
    "digest_path",
    "hash_regular",
    "identity",
    "parse_digest",
    "resolve_cache",
    "stat_many",
]
