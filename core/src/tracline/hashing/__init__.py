"""Content hashing: ``blake3:<hex>`` digests of files and directories, with a stat cache.

    >>> from tracline.hashing import digest_path
    >>> digest_path("data/").digest  # doctest: +SKIP
    'blake3:...'

The digest format and the directory Merkle algorithm are specified in ``docs/hashing.md``.
"""

from __future__ import annotations

from tracline.hashing._api import digest_file, digest_path
from tracline.hashing._cache import StatCache, default_cache
from tracline.hashing._digest import (
    ALGORITHMS,
    DEFAULT_ALGORITHM,
    Digest,
    digest_bytes,
    parse_digest,
)

__all__ = [
    "ALGORITHMS",
    "DEFAULT_ALGORITHM",
    "Digest",
    "StatCache",
    "default_cache",
    "digest_bytes",
    "digest_file",
    "digest_path",
    "parse_digest",
]
