"""digest_path and digest_file on regular files and directory trees."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import blake3
import pytest

from tracline.config import reset_config
from tracline.errors import ConfigError
from tracline.hashing import _tree, digest_file, digest_path


def _sample(root: Path) -> Path:
    (root / "sub" / "deep").mkdir(parents=True)
    (root / "a.txt").write_bytes(b"alpha\n")
    (root / "sub" / "b.bin").write_bytes(bytes(range(256)) * 10)
    (root / "sub" / "deep" / "c").write_bytes(b"")
    return root


@pytest.mark.parametrize("size", [0, 1, 1023, 1 << 20, (8 << 20) * 2 + 7])
def test_file_digest_matches_blake3_and_hashlib(tmp_path: Path, size: int) -> None:
    """File digests equal the blake3 package and hashlib.sha256 for sizes around the chunking."""
    data = (bytes(range(251)) * (size // 251 + 1))[:size]
    path = tmp_path / "f"
    path.write_bytes(data)
    got = digest_file(path, cache=False)
    assert got.digest == "blake3:" + blake3.blake3(data).hexdigest()
    assert (got.size, got.file_count, got.kind) == (size, 1, "file")
    assert digest_path(path, "sha256", cache=False).hex == hashlib.sha256(data).hexdigest()


def test_same_files_in_two_places_give_the_same_digest(tmp_path: Path) -> None:
    """A directory's digest depends on its files, not on where it lives."""
    one = digest_path(_sample(tmp_path / "one"), cache=False)
    two = digest_path(_sample(tmp_path / "elsewhere" / "two"), cache=False)
    assert one == two
    assert (one.kind, one.file_count, one.size) == ("directory", 3, 6 + 2560)


def test_renaming_a_file_changes_the_digest(tmp_path: Path) -> None:
    """Moving a file to another name inside the directory changes its digest."""
    root = _sample(tmp_path / "d")
    before = digest_path(root, cache=False)
    (root / "a.txt").rename(root / "a2.txt")
    assert digest_path(root, cache=False) != before


def test_parallel_and_serial_hashing_agree(tmp_path: Path) -> None:
    """Hashing many files with a thread pool gives the serial result."""
    root = tmp_path / "many"
    for i in range(600):
        sub = root / f"d{i % 7}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i}").write_bytes(str(i).encode() * (i + 1))
    assert digest_path(root, cache=False, workers=4) == digest_path(root, cache=False, workers=1)


def test_workers_come_from_the_config(tracline_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """[hashing] workers sets the thread count; a non-positive or non-integer value is refused."""
    Path("d").mkdir()
    Path("d/f").write_text("x")
    Path("tracline.toml").write_text("[hashing]\nworkers = 3\n")
    used: list[int] = []
    original = _tree.hash_many

    def spy(files: Any, algorithm: str, advance: Any, workers: int) -> Any:
        used.append(workers)
        return original(files, algorithm, advance, workers)

    monkeypatch.setattr(_tree, "hash_many", spy)
    assert digest_path("d", cache=False).file_count == 1
    assert used == [3]
    Path("tracline.toml").write_text('[hashing]\nworkers = "many"\n')
    reset_config()
    with pytest.raises(ConfigError) as caught:
        digest_path("d", cache=False)
    assert "workers" in caught.value.message
