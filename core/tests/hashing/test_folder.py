"""The directory walk's inner loop: C and Python give the same bytes; odd entries stay exact."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tracline.errors import HashError
from tracline.hashing import StatCache, _folder, _tree, digest_path


def _listed(path: Path, lister: Callable[[int], _folder.Listed]) -> _folder.Listed:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return lister(fd)
    finally:
        os.close(fd)


def _c_lister() -> Callable[[int], _folder.Listed]:
    if _folder._library() is None:
        pytest.skip(f"{_folder.LIBRARY} is not built (no C compiler at install time)")
    return _folder.folder_lister()


def test_c_and_python_loops_list_a_mixed_folder_alike(tmp_path: Path) -> None:
    """Regular files (one with a name that is not UTF-8), a folder, file and dangling
    symlinks and a FIFO come out as the same bytes from the C loop and the Python loop."""
    (tmp_path / "a.bin").write_bytes(b"a")
    (tmp_path / "empty").write_bytes(b"")
    with open(os.fsencode(tmp_path) + b"/caf\xe9.bin", "wb") as handle:
        handle.write(b"latin-1 name")
    (tmp_path / "sub").mkdir()
    (tmp_path / "link").symlink_to("a.bin")
    (tmp_path / "dangling").symlink_to("nowhere")
    os.mkfifo(tmp_path / "pipe")
    native = _listed(tmp_path, _c_lister())
    names, identities, others = native
    assert native == _listed(tmp_path, _folder.list_folder_python)
    assert sorted(names[:-1].split(b"\0")) == [b"a.bin", b"caf\xe9.bin", b"empty"]
    assert len(identities) == 3 * _folder.IDENTITY.size
    assert sorted(others) == [b"dangling", b"link", b"pipe", b"sub"]
    st = os.stat(tmp_path / "a.bin")
    ident = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    assert ident in list(_folder.IDENTITY.iter_unpack(identities))


def test_folder_larger_than_the_first_buffers_is_listed_whole(tmp_path: Path) -> None:
    """A folder of 3,000 long-named files (more than the C loop's first buffers hold) is
    listed whole, as the Python loop lists it."""
    for i in range(3000):
        (tmp_path / f"{i:05d}-{'x' * 40}.bin").write_bytes(b"")
    native = _listed(tmp_path, _c_lister())
    assert native == _listed(tmp_path, _folder.list_folder_python)
    assert len(native[0][:-1].split(b"\0")) == 3000


@pytest.mark.usefixtures("walk_loop")
def test_file_with_a_timestamp_beyond_64_bits_of_ns_is_digested_every_time(
    tmp_path: Path, reads: list[int]
) -> None:
    """A file dated after 2262 (its mtime in ns does not fit 64 bits) is found and digested
    like any other, and, dated in the future, never served from the cache."""
    root = tmp_path / "data"
    root.mkdir()
    (root / "future.bin").write_bytes(b"from the future")
    (root / "now.bin").write_bytes(b"from now")
    try:
        os.utime(root / "future.bin", ns=(0, 10**19))
    except (OSError, OverflowError) as e:
        pytest.skip(f"this file system cannot date a file after 2262: {e}")
    if os.stat(root / "future.bin").st_mtime_ns < 1 << 63:
        pytest.skip("this file system clamps timestamps to 64 bits of ns")
    os.utime(root / "now.bin", ns=(0, 10**18))
    cache = StatCache(tmp_path / "cache.db", settle_ns=0)
    first = digest_path(root, cache=cache)
    assert first == digest_path(root, cache=False)
    assert first.file_count == 2
    reads.clear()
    assert digest_path(root, cache=cache) == first
    assert reads == [len(b"from the future")]


@pytest.mark.usefixtures("walk_loop")
def test_file_of_a_cached_folder_replaced_with_same_size_and_mtime_is_seen(
    tmp_path: Path, reads: list[int], make_old: Callable[..., None]
) -> None:
    """A file of a cached directory swapped, by rename, for another inode with the same size
    and mtime is re-read, and the directory's digest follows it."""
    root = tmp_path / "data"
    root.mkdir()
    files = [root / f"part-{i}.bin" for i in range(5)]
    for path in files:
        path.write_bytes(b"\x00" * 64)
    make_old(*files)
    cache = StatCache(tmp_path / "cache.db", settle_ns=0)
    first = digest_path(root, cache=cache)
    old = files[2].stat()
    fresh = tmp_path / "fresh"
    fresh.write_bytes(b"\x01" * 64)
    os.utime(fresh, ns=(old.st_atime_ns, old.st_mtime_ns))
    os.replace(fresh, files[2])
    reads.clear()
    second = digest_path(root, cache=cache)
    assert reads == [64]
    assert second != first
    assert second == digest_path(root, cache=False)


def _tree_of_folders(root: Path, folders: int = 12, files: int = 5) -> None:
    for i in range(folders):
        sub = root / f"f{i:02d}" / "inner"
        sub.mkdir(parents=True)
        for j in range(files):
            (sub / f"{j}.bin").write_bytes(bytes([i, j]))
            (sub.parent / f"{j}.txt").write_bytes(bytes([j, i]))


@pytest.mark.usefixtures("walk_loop")
def test_walk_finds_the_same_listing_with_any_number_of_threads(tmp_path: Path) -> None:
    """Folders listed by 1, 2 or 5 threads give the same fingerprint and the same files in
    the same order (the cache's fast path does not depend on thread timing)."""
    _tree_of_folders(tmp_path)
    walks = [_tree.walk(str(tmp_path), workers) for workers in (1, 2, 5, 2)]
    assert len({w.fingerprint for w in walks}) == 1
    assert len({tuple(w.leaves()[0]) for w in walks}) == 1
    assert walks[0].count == len(walks[0].leaves()[0]) == 12 * 10


@pytest.mark.usefixtures("walk_loop")
def test_special_file_in_one_of_many_folders_fails_the_threaded_walk(tmp_path: Path) -> None:
    """A FIFO deep in one of many folders listed by several threads is refused with a
    HashError naming it."""
    _tree_of_folders(tmp_path)
    os.mkfifo(tmp_path / "f07" / "inner" / "pipe")
    with pytest.raises(HashError, match=r"f07/inner/pipe: it is a FIFO") as caught:
        digest_path(tmp_path, cache=False, workers=4)
    assert caught.value.hint
