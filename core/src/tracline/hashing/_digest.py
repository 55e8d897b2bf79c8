"""The digest value: ``"<algorithm>:<hex>"``, its algorithms, parsing and hashers."""

from __future__ import annotations

import re
from typing import Literal, Protocol

import attrs
import blake3

from tracline.errors import ValidationError

__all__ = [
    "ALGORITHMS",
    "DEFAULT_ALGORITHM",
    "Digest",
    "Hasher",
    "check_algorithm",
    "digest_bytes",
    "new_hasher",
    "parse_digest",
]

#: Supported algorithms and the length of their hex digest.
ALGORITHMS: dict[str, int] = {"blake3": 64, "sha256": 64}
DEFAULT_ALGORITHM = "blake3"

_HEX = re.compile(r"[0-9a-f]+")

Kind = Literal["file", "directory"]


class Hasher(Protocol):
    """What tracline needs of a hash object (blake3 and hashlib both fit)."""

    def update(self, data: bytes | bytearray | memoryview, /) -> object:
        """Feed bytes."""

    def hexdigest(self) -> str:
        """Return the hex digest of everything fed so far."""


def check_algorithm(algorithm: str) -> str:
    """Return ``algorithm`` if tracline supports it, else raise :class:`ValidationError`."""
    if algorithm not in ALGORITHMS:
        raise ValidationError(
            "algorithm",
            f"unknown digest algorithm {algorithm!r}",
            hint=f"use one of {', '.join(sorted(ALGORITHMS))}",
        )
    return algorithm


def new_hasher(algorithm: str, *, threads: bool = False) -> Hasher:
    """A fresh hash object; ``threads`` lets blake3 spread one large input over all cores."""
    if check_algorithm(algorithm) == "blake3":
        if threads:
            return blake3.blake3(max_threads=blake3.blake3.AUTO)
        return blake3.blake3()
    import hashlib  # only for sha256 (its OpenSSL binding is slow to load)

    return hashlib.sha256()


def digest_bytes(data: bytes | bytearray | memoryview, algorithm: str = DEFAULT_ALGORITHM) -> str:
    """Return ``"<algorithm>:<hex>"`` of ``data``."""
    hasher = new_hasher(algorithm, threads=len(data) >= 1 << 20)
    hasher.update(data)
    return f"{algorithm}:{hasher.hexdigest()}"


def parse_digest(text: str) -> tuple[str, str]:
    """Split ``"<algorithm>:<hex>"`` into its parts; raise :class:`ValidationError` if malformed."""
    if not isinstance(text, str):
        raise ValidationError("digest", f"expected a string, got {type(text).__name__}")
    algorithm, sep, hexpart = text.partition(":")
    if not sep:
        raise ValidationError(
            "digest",
            f"{text[:80]!r} has no algorithm prefix",
            hint="write it as <algorithm>:<hex>, e.g. blake3:af13...",
        )
    check_algorithm(algorithm)
    length = ALGORITHMS[algorithm]
    if len(hexpart) != length or not _HEX.fullmatch(hexpart):
        raise ValidationError(
            "digest",
            f"{text[:80]!r} is not a {algorithm} digest",
            hint=f"a {algorithm} digest is {length} lowercase hex characters after '{algorithm}:'",
        )
    return algorithm, hexpart


def _check_hex(instance: Digest, attribute: attrs.Attribute[str], value: str) -> None:
    parse_digest(f"{instance.algorithm}:{value}")


@attrs.frozen
class Digest:
    """The content digest of a file or a directory, with what it covers."""

    algorithm: str = attrs.field(validator=lambda _i, _a, v: check_algorithm(v))
    hex: str = attrs.field(validator=_check_hex)
    #: Bytes covered: the file's size, or the sum over a directory's files.
    size: int
    #: 1 for a file; the number of files hashed for a directory.
    file_count: int
    kind: Kind

    @property
    def digest(self) -> str:
        """The digest as ``"<algorithm>:<hex>"``."""
        return f"{self.algorithm}:{self.hex}"

    def __str__(self) -> str:
        return self.digest
