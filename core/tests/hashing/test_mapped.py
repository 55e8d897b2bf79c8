"""Zero-copy hashing of large files: used when safe, and it yields to writers at once."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

import blake3
import pytest

from tracline.hashing import _mapped, digest_file

pytestmark = pytest.mark.skipif(
    not hasattr(fcntl, "F_SETLEASE"), reason="read leases are Linux-only; large files are read"
)

SIZE = 12 << 20


@pytest.fixture
def big(tmp_path: Path) -> tuple[Path, bytes]:
    """A 12 MiB file (above the mapping threshold) and its bytes."""
    data = os.urandom(SIZE)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    return path, data


def test_large_file_is_hashed_from_a_mapping(big: tuple[Path, bytes]) -> None:
    """A large file nobody writes is hashed entirely from the mapping, to the right digest."""
    path, data = big
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert _mapped.hash_mapped(fd, hasher, SIZE, None) == SIZE
    finally:
        os.close(fd)
    assert hasher.hexdigest() == blake3.blake3(data).hexdigest()


def test_file_open_for_writing_is_read_instead(big: tuple[Path, bytes]) -> None:
    """With a writer holding the file open no lease is granted: it is read, not mapped."""
    path, data = big
    with path.open("r+b"):
        fd = os.open(path, os.O_RDONLY)
        try:
            assert _mapped.hash_mapped(fd, blake3.blake3(), SIZE, None) == 0
        finally:
            os.close(fd)
        assert digest_file(path, cache=False).hex == blake3.blake3(data).hexdigest()


def test_never_maps_past_a_shrunken_end(big: tuple[Path, bytes]) -> None:
    """If the file is shorter than the size the caller saw, nothing is mapped (no SIGBUS)."""
    path, _ = big
    fd = os.open(path, os.O_RDONLY)
    try:
        assert _mapped.hash_mapped(fd, blake3.blake3(), SIZE + 4096, None) == 0
    finally:
        os.close(fd)


def test_writer_waits_only_for_the_current_slice(
    big: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer opening the file mid-hash breaks the lease; hashing finishes by reading."""
    path, data = big
    monkeypatch.setattr(_mapped, "SLICE", 1 << 20)
    writer = subprocess.Popen(
        [sys.executable, "-c", "import sys; open(sys.argv[1], 'ab').close()", str(path)]
    )
    fd = os.open(path, os.O_RDONLY)
    slices: list[int] = []

    class Watching:
        """A hasher that, after the first slice, waits until the writer asks for the file."""

        def __init__(self) -> None:
            self.inner = blake3.blake3()

        def update(self, part: memoryview) -> None:
            self.inner.update(part)
            slices.append(len(part))
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                if len(slices) > 1 or not _mapped._lease_held(fd):
                    return
                time.sleep(0.01)

    try:
        watching = Watching()
        done = _mapped.hash_mapped(fd, watching, SIZE, None)
        assert writer.wait(timeout=300) == 0
        assert done == 1 << 20
        os.lseek(fd, done, os.SEEK_SET)
        watching.inner.update(os.read(fd, SIZE))
    finally:
        os.close(fd)
        writer.kill()
    assert watching.inner.hexdigest() == blake3.blake3(data).hexdigest()
