"""The directory Merkle digest, recomputed independently, and its symlink and empty-dir rules."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import blake3
import pytest

from tracline.hashing import digest_path

HEADER = b"tracline-tree-v1\0"

pytestmark = pytest.mark.usefixtures("walk_loop")


def _hex(data: bytes, algorithm: str) -> str:
    return (blake3.blake3(data) if algorithm == "blake3" else hashlib.sha256(data)).hexdigest()


def independent(root: Path, algorithm: str = "blake3") -> str:
    """The documented algorithm, written from docs/hashing.md without tracline's code."""
    leaves = []
    for folder, _dirs, files in os.walk(os.fsencode(root), followlinks=True):
        for name in files:
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, os.fsencode(root))
            if os.path.exists(path):
                with open(path, "rb") as handle:
                    leaves.append((rel, b"f", _hex(handle.read(), algorithm)))
            else:
                leaves.append((rel, b"l", _hex(os.readlink(path), algorithm)))
    manifest = b"".join(b"%s %s %s\0" % (k, h.encode(), r) for r, k, h in sorted(leaves))
    return f"{algorithm}:{_hex(HEADER + manifest, algorithm)}"


def test_documented_example_has_its_documented_digest(tmp_path: Path) -> None:
    """The worked example of docs/hashing.md gives the digest printed there."""
    root = tmp_path / "example"
    (root / "data").mkdir(parents=True)
    (root / "README").write_bytes(b"hello\n")
    (root / "data" / "train.csv").write_bytes(b"x,y\n1,2\n")
    (root / "data.txt").write_bytes(b"")
    got = digest_path(root, cache=False)
    assert got.digest == independent(root)
    assert got.digest == EXAMPLE_DIGEST
    assert (got.file_count, got.size) == (3, 14)


EXAMPLE_DIGEST = "blake3:59acd80c359dad3142bc385148b1b663e61351e2900d4065da74bc73aefffeaf"


@pytest.mark.parametrize("algorithm", ["blake3", "sha256"])
def test_tree_matches_an_independent_implementation(tmp_path: Path, algorithm: str) -> None:
    """A tree with nested dirs, odd names and bytewise-sorted paths matches the spec."""
    root = tmp_path / "t"
    for rel in ["a.txt", "a/b", "a/c/d", "A", "b-", "z/é", "sp ace", "ß/x"]:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rel.encode() * 3)
    raw = os.fsencode(root) + b"/caf\xe9"
    with open(raw, "wb") as handle:
        handle.write(b"latin-1 name")
    assert digest_path(root, algorithm, cache=False).digest == independent(root, algorithm)


def test_empty_directories_do_not_count(tmp_path: Path) -> None:
    """Empty directories leave a digest unchanged; an empty tree hashes the bare header."""
    root = tmp_path / "r"
    root.mkdir()
    empty = digest_path(root, cache=False)
    assert empty.digest == "blake3:" + blake3.blake3(HEADER).hexdigest()
    assert (empty.file_count, empty.size, empty.kind) == (0, 0, "directory")
    (root / "f").write_text("x")
    before = digest_path(root, cache=False)
    (root / "e1" / "e2").mkdir(parents=True)
    assert digest_path(root, cache=False) == before


def test_file_symlinks_are_followed(tmp_path: Path) -> None:
    """A symlink to a file (inside or outside) counts as that file's content at the link's path."""
    outside = tmp_path / "store" / "blob"
    outside.parent.mkdir()
    outside.write_bytes(b"weights")
    copy, linked = tmp_path / "copy", tmp_path / "linked"
    copy.mkdir()
    linked.mkdir()
    (copy / "model.bin").write_bytes(b"weights")
    (copy / "alias").write_bytes(b"weights")
    (linked / "model.bin").symlink_to(outside)
    (linked / "alias").symlink_to("model.bin")
    assert digest_path(linked, cache=False) == digest_path(copy, cache=False)


def test_directory_symlinks_are_followed(tmp_path: Path) -> None:
    """A symlink to a directory lists that directory's files under the link's path."""
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "x").write_text("1")
    one, two = tmp_path / "one", tmp_path / "two"
    (one / "sub").mkdir(parents=True)
    (one / "sub" / "x").write_text("1")
    two.mkdir()
    (two / "sub").symlink_to(tmp_path / "shared")
    assert digest_path(two, cache=False) == digest_path(one, cache=False)


def test_dangling_symlink_is_recorded_by_target_text(tmp_path: Path) -> None:
    """A symlink to nothing is an 'l' leaf over its target text; retargeting changes it."""
    root = tmp_path / "r"
    root.mkdir()
    (root / "f").write_text("x")
    (root / "latest").symlink_to("run-7")
    first = digest_path(root, cache=False)
    assert first.digest == independent(root)
    assert first.file_count == 1
    (root / "latest").unlink()
    (root / "latest").symlink_to("run-8")
    assert digest_path(root, cache=False) != first


@pytest.mark.parametrize("algorithm", ["blake3", "sha256"])
def test_directory_and_file_digests_never_coincide(tmp_path: Path, algorithm: str) -> None:
    """A file holding a directory's manifest bytes does not get the directory's digest."""
    root = tmp_path / "r"
    root.mkdir()
    (root / "f").write_bytes(b"x")
    leaf = digest_path(root / "f", algorithm, cache=False).hex
    (tmp_path / "manifest").write_bytes(b"f %s f\0" % leaf.encode())
    assert digest_path(tmp_path / "manifest", algorithm, cache=False).hex != (
        digest_path(root, algorithm, cache=False).hex
    )
