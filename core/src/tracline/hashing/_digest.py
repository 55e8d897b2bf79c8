"""The digest value: ``"<algorithm>:<hex>"``, its algorithms, parsing and hashers."""

from __future__ import annotations

import blake3

from tracline.errors import ValidationError

TYPE_CHECKING = False  # typing, re and attrs stay unloaded: see Digest
if TYPE_CHECKING:
    from typing import Literal, Protocol

    Kind = Literal["file", "directory"]

    class Hasher(Protocol):
        """What tracline needs of a hash object (blake3 and hashlib both fit)."""

        def update(self, data: bytes | bytearray | memoryview, /) -> object:
            """Feed bytes."""

        def hexdigest(self) -> str:
            """Return the hex digest of everything fed so far."""

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

_HEX_DIGITS = "0123456789abcdef"


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
    if len(hexpart) != length or hexpart.strip(_HEX_DIGITS):
        raise ValidationError(
            "digest",
            f"{text[:80]!r} is not a {algorithm} digest",
            hint=f"a {algorithm} digest is {length} lowercase hex characters after '{algorithm}:'",
        )
    return algorithm, hexpart


class Digest:
    """The content digest of a file or a directory, with what it covers (immutable).

    A plain class rather than an attrs or dataclass one: importing ``tracline.hashing`` to
    digest a file loads neither (see ``benchmarks/hashing.py``, import row).
    """

    __slots__ = ("algorithm", "file_count", "hex", "kind", "size")

    algorithm: str
    hex: str
    #: Bytes covered: the file's size, or the sum over a directory's files.
    size: int
    #: 1 for a file; the number of files hashed for a directory.
    file_count: int
    kind: Kind

    def __init__(
        self,
        algorithm: str,
        hex: str,
        size: int,
        file_count: int,
        kind: Kind,
    ) -> None:
        parse_digest(f"{algorithm}:{hex}")
        init = object.__setattr__
        init(self, "algorithm", algorithm)
        init(self, "hex", hex)
        init(self, "size", size)
        init(self, "file_count", file_count)
        init(self, "kind", kind)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Digest is immutable: cannot set {name}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Digest is immutable: cannot delete {name}")

    def _fields(self) -> tuple[str, str, int, int, Kind]:
        return self.algorithm, self.hex, self.size, self.file_count, self.kind

    def __reduce__(self) -> tuple[type[Digest], tuple[str, str, int, int, Kind]]:
        # pickle and copy rebuild it through __init__ (setting its fields one by one fails).
        return Digest, self._fields()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Digest):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return (f"Digest(algorithm={self.algorithm!r}, hex={self.hex!r}, size={self.size!r}, "
                f"file_count={self.file_count!r}, kind={self.kind!r})")

    @property
    def digest(self) -> str:
        """The digest as ``"<algorithm>:<hex>"``."""
        return f"{self.algorithm}:{self.hex}"

    def __str__(self) -> str:
        return self.digest
