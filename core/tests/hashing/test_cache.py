"""The stat cache: unchanged files are served without reading; changes are always seen."""

from __future__ import annotations

import logging
import marshal
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import blake3
import pytest

from tracline.config import reset_config
from tracline.errors import ChangedWhileHashing
from tracline.hashing import (
    StatCache,
    _file,
    _folder,
    _tree,
    default_cache,
    digest_file,
    digest_path,
)

pytestmark = pytest.mark.usefixtures("walk_loop")


@pytest.fixture
def dataset(make_old: Callable[..., None]) -> Callable[..., list[Path]]:
    """Build a directory of n small files whose mtimes lie an hour back."""

    def build(root: Path, n: int = 20) -> list[Path]:
        return _dataset(root, n, make_old)

    return build


def _dataset(root: Path, n: int, make_old: Callable[..., None]) -> list[Path]:
    root.mkdir(parents=True)
    files = []
    for i in range(n):
        path = root / f"part-{i:03d}.bin"
        path.write_bytes(bytes([i]) * (100 + i))
        files.append(path)
    make_old(*files)
    return files


def test_unchanged_files_are_not_read_again(
    dataset: Callable[..., list[Path]], tmp_path: Path, reads: list[int]
) -> None:
    """A second digest through a fresh cache object on the same file reads nothing."""
    dataset(tmp_path / "data")
    db = tmp_path / "cache.db"
    first = digest_path(tmp_path / "data", cache=StatCache(db, settle_ns=0))
    assert len(reads) == 20
    reads.clear()
    second = digest_path(tmp_path / "data", cache=StatCache(db, settle_ns=0))
    assert second == first
    assert reads == []
    assert digest_file(tmp_path / "data" / "part-000.bin", cache=StatCache(db)).size == 100
    assert reads == []


def test_content_change_with_same_size_is_seen(
    dataset: Callable[..., list[Path]], tmp_path: Path, reads: list[int]
) -> None:
    """Rewriting one file with different bytes of the same size re-reads exactly that file."""
    files = dataset(tmp_path / "data")
    cache = StatCache(tmp_path / "cache.db", settle_ns=0)
    first = digest_path(tmp_path / "data", cache=cache)
    reads.clear()
    files[3].write_bytes(b"\xff" * files[3].stat().st_size)
    second = digest_path(tmp_path / "data", cache=cache)
    assert reads == [103]
    assert second != first
    assert second == digest_path(tmp_path / "data", cache=False)


def test_replaced_file_with_same_size_and_mtime_is_seen(
    dataset: Callable[..., list[Path]], tmp_path: Path, reads: list[int]
) -> None:
    """A file swapped in by rename, with the old size and mtime, is re-read (new inode)."""
    files = dataset(tmp_path / "data", n=2)
    cache = StatCache(tmp_path / "cache.db", settle_ns=0)
    first = digest_path(files[0], cache=cache)
    old = files[0].stat()
    fresh = tmp_path / "fresh"
    fresh.write_bytes(b"\x01" * old.st_size)
    os.utime(fresh, ns=(old.st_atime_ns, old.st_mtime_ns))
    os.replace(fresh, files[0])
    reads.clear()
    assert digest_path(files[0], cache=cache) != first
    assert reads == [old.st_size]


def test_recently_modified_files_are_not_cached(tmp_path: Path, reads: list[int]) -> None:
    """A file written within the settle window is hashed but not cached (racy timestamps)."""
    path = tmp_path / "new.bin"
    path.write_bytes(b"just written")
    cache = StatCache(tmp_path / "cache.db")
    digest_file(path, cache=cache)
    digest_file(path, cache=cache)
    assert len(reads) == 2


def test_algorithms_are_cached_separately(
    dataset: Callable[..., list[Path]], tmp_path: Path, reads: list[int]
) -> None:
    """A cached blake3 digest is never served for sha256 (and the reverse)."""
    (path,) = dataset(tmp_path / "data", n=1)
    cache = StatCache(tmp_path / "cache.db", settle_ns=0)
    b3 = digest_file(path, cache=cache)
    sha = digest_file(path, "sha256", cache=cache)
    assert (b3.algorithm, sha.algorithm) == ("blake3", "sha256")
    assert digest_file(path, "sha256", cache=cache) == sha
    assert len(reads) == 2


def test_many_files_are_looked_up_as_one_at_a_time(tmp_path: Path) -> None:
    """``lookup_many`` answers what ``lookup`` answers file by file, across query batches:
    unchanged files' digests; nothing for a changed file, another algorithm or a file never
    cached (names that are not UTF-8 included)."""
    (tmp_path / "data").mkdir()
    files = [tmp_path / "data" / f"{i}.bin" for i in range(1203)]
    for i, path in enumerate(files):
        path.write_bytes(str(i).encode())
    raw = Path(os.fsdecode(bytes(tmp_path / "data") + b"/raw-\xff.bin"))
    raw.write_bytes(b"raw")
    os.utime(raw, (1, 1))
    cache = StatCache(tmp_path / "cache.db", settle_ns=0)
    for path in [*files[:1200], raw]:
        digest_file(path, cache=cache)
    files[5].write_bytes(b"changed")
    asked = [(str(p), os.stat(p)) for p in [*files, raw]]
    one_by_one = {p: h for p, st in asked if (h := cache.lookup(p, st, "blake3")) is not None}
    assert cache.lookup_many(asked, "blake3") == one_by_one
    assert len(one_by_one) == 1200 and str(files[5]) not in one_by_one and str(raw) in one_by_one
    assert cache.lookup_many(asked, "sha256") == {} and cache.lookup_many([], "blake3") == {}


@pytest.mark.parametrize("damage", ["garbage", "torn-page"])
def test_corrupted_cache_is_reported_once_and_rebuilt(
    dataset: Callable[..., list[Path]],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    damage: str,
) -> None:
    """A corrupted cache file warns once, is moved aside, rebuilt, and never breaks hashing."""
    dataset(tmp_path / "data")
    db = tmp_path / "cache.db"
    first = StatCache(db, settle_ns=0)
    expected = digest_path(tmp_path / "data", cache=first)
    first.close()
    if damage == "garbage":
        db.write_bytes(b"this is not a database" * 500)
    else:
        raw = bytearray(db.read_bytes())
        raw[4096:] = b"\xa5" * (len(raw) - 4096)
        db.write_bytes(bytes(raw))
    cache = StatCache(db, settle_ns=0)
    with caplog.at_level(logging.WARNING, logger="tracline.hashing"):
        for _ in range(3):
            assert digest_path(tmp_path / "data", cache=cache) == expected
    warnings = [r for r in caplog.records if "corrupted" in r.getMessage()]
    assert len(warnings) == 1
    assert str(db) in warnings[0].getMessage()
    assert (tmp_path / "cache.db.corrupt").exists()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM entries").fetchone()[0] == 20


def test_unusable_cache_location_falls_back_to_reading(
    dataset: Callable[..., list[Path]],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    reads: list[int],
) -> None:
    """A cache path that cannot be a database (a directory) warns once and hashing goes on."""
    (tmp_path / "cache.db").mkdir()
    dataset(tmp_path / "data", n=3)
    cache = StatCache(tmp_path / "cache.db", settle_ns=0)
    with caplog.at_level(logging.WARNING, logger="tracline.hashing"):
        one = digest_path(tmp_path / "data", cache=cache)
        two = digest_path(tmp_path / "data", cache=cache)
    assert one == two
    assert len(reads) == 6
    assert len([r for r in caplog.records if "unusable" in r.getMessage()]) == 1


def test_changed_file_is_never_cached(
    dataset: Callable[..., list[Path]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    reads: list[int],
) -> None:
    """A file that changes while hashed raises, and no digest of it is recorded."""
    (path,) = dataset(tmp_path / "data", n=1)
    cache = StatCache(tmp_path / "cache.db", settle_ns=0)
    counting = _file._hash_fd

    def grow(fd: int, algorithm: str, size: int, advance: object) -> tuple[str, int]:
        result = counting(fd, algorithm, size, advance)
        with path.open("ab") as handle:
            handle.write(b"more")
        return result

    monkeypatch.setattr(_file, "_hash_fd", grow)
    with pytest.raises(ChangedWhileHashing):
        digest_file(path, cache=cache)
    monkeypatch.setattr(_file, "_hash_fd", counting)
    reads.clear()
    digest_file(path, cache=cache)
    assert len(reads) == 1


def test_default_cache_lives_in_the_config_home(tracline_home: Path) -> None:
    """cache=True uses <home>/statcache.db; [hashing] stat_cache = false turns it off."""
    Path("f.txt").write_text("x")
    digest_path("f.txt")
    assert default_cache().path == (tracline_home / "statcache.db").resolve()
    assert (tracline_home / "statcache.db").exists()
    Path("tracline.toml").write_text('[hashing]\nstat_cache = false\n[tracline]\nhome = "other"\n')
    reset_config()
    digest_path("f.txt")
    assert not Path("other").exists()


def _flip(blob: bytes, at: int) -> bytes:
    return blob[:at] + bytes([blob[at] ^ 1]) + blob[at + 1 :]


def test_damaged_directory_snapshot_is_reported_and_replaced(
    dataset: Callable[..., list[Path]],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    reads: list[int],
) -> None:
    """A snapshot head whose checksum fails is ignored (warned once) and written afresh."""
    dataset(tmp_path / "data")
    db = tmp_path / "cache.db"
    expected = digest_path(tmp_path / "data", cache=StatCache(db, settle_ns=0))
    with sqlite3.connect(db) as conn:
        (head,) = conn.execute("SELECT head FROM snapshots").fetchone()
        conn.execute("UPDATE snapshots SET head = ?", (_flip(head, 40),))
    cache = StatCache(db, settle_ns=0)
    reads.clear()
    with caplog.at_level(logging.WARNING, logger="tracline.hashing"):
        assert digest_path(tmp_path / "data", cache=cache) == expected
        assert digest_path(tmp_path / "data", cache=cache) == expected
    assert reads == []
    assert len([r for r in caplog.records if "checksum" in r.getMessage()]) == 1
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT head FROM snapshots").fetchone() == (head,)


def test_damaged_snapshot_body_is_reported_and_files_come_from_their_rows(
    dataset: Callable[..., list[Path]],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    reads: list[int],
) -> None:
    """A body that is not the one its head was written with is never used; only the changed
    file is read."""
    files = dataset(tmp_path / "data")
    db = tmp_path / "cache.db"
    digest_path(tmp_path / "data", cache=StatCache(db, settle_ns=0))
    with sqlite3.connect(db) as conn:
        (body,) = conn.execute("SELECT body FROM snapshots").fetchone()
        conn.execute("UPDATE snapshots SET body = ?", (_flip(body, len(body) // 2),))
    files[7].write_bytes(b"\xee" * files[7].stat().st_size)
    reads.clear()
    with caplog.at_level(logging.WARNING, logger="tracline.hashing"):
        got = digest_path(tmp_path / "data", cache=StatCache(db, settle_ns=0))
    assert got == digest_path(tmp_path / "data", cache=False)
    assert reads[:1] == [107]
    assert len([r for r in caplog.records if "checksum" in r.getMessage()]) == 1


def test_unchanged_directory_is_served_from_the_fingerprint_alone(
    dataset: Callable[..., list[Path]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    reads: list[int],
) -> None:
    """Re-digesting an unchanged directory neither reads a file nor unpacks the listing."""
    dataset(tmp_path / "data" / "inner")
    (tmp_path / "data" / "latest").symlink_to("run-3")
    db = tmp_path / "cache.db"
    first = digest_path(tmp_path / "data", cache=StatCache(db, settle_ns=0))
    unpacked = _count_leaves(monkeypatch)
    reads.clear()
    assert digest_path(tmp_path / "data", cache=StatCache(db, settle_ns=0)) == first
    assert (reads, unpacked) == ([], [])


def _count_leaves(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record each time a walk's listing is unpacked file by file (the slow path)."""
    calls: list[int] = []
    original = _tree.Listing.leaves

    def counting(self: _tree.Listing) -> tuple[list[_tree.File], list[_tree.Link]]:
        calls.append(self.count)
        return original(self)

    monkeypatch.setattr(_tree.Listing, "leaves", counting)
    return calls


def test_file_rewritten_with_its_old_size_and_mtime_is_seen(
    dataset: Callable[..., list[Path]], tmp_path: Path, reads: list[int]
) -> None:
    """A file of a cached directory given new bytes, its size and mtime put back, is re-read:
    its ctime moved."""
    files = dataset(tmp_path / "data")
    cache = StatCache(tmp_path / "cache.db", settle_ns=0)
    first = digest_path(tmp_path / "data", cache=cache)
    assert digest_path(tmp_path / "data", cache=cache) == first
    old = files[11].stat()
    files[11].write_bytes(b"\x00" * old.st_size)
    os.utime(files[11], ns=(old.st_atime_ns, old.st_mtime_ns))
    reads.clear()
    second = digest_path(tmp_path / "data", cache=cache)
    assert reads == [old.st_size]
    assert second != first
    assert second == digest_path(tmp_path / "data", cache=False)


def test_directory_listed_in_another_order_is_served_and_remembered(
    dataset: Callable[..., list[Path]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    reads: list[int],
) -> None:
    """The same files in another directory order read nothing, and that order is recorded so
    the next digest takes the fast path again."""
    dataset(tmp_path / "data")
    cache = StatCache(tmp_path / "cache.db", settle_ns=0)
    first = digest_path(tmp_path / "data", cache=cache)
    lister = _folder.folder_lister

    def reversed_lister() -> Callable[[int], _folder.Listed]:
        def listing(fd: int) -> _folder.Listed:
            names, identities, others = lister()(fd)
            size = _folder.IDENTITY.size
            rows = [identities[i : i + size] for i in range(0, len(identities), size)]
            return b"\0".join(names[:-1].split(b"\0")[::-1]) + b"\0", b"".join(rows[::-1]), others

        return listing

    monkeypatch.setattr(_tree, "folder_lister", reversed_lister)
    unpacked = _count_leaves(monkeypatch)
    reads.clear()
    assert digest_path(tmp_path / "data", cache=cache) == first
    assert (reads, unpacked) == ([], [20])
    assert digest_path(tmp_path / "data", cache=cache) == first
    assert (reads, unpacked) == ([], [20])


def test_file_too_recent_to_cache_keeps_its_directory_off_the_fast_path(
    dataset: Callable[..., list[Path]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    reads: list[int],
) -> None:
    """While one file is within the settle window, each digest re-reads that file alone."""
    files = dataset(tmp_path / "data")
    fresh = files[5].stat().st_ino
    settled = StatCache._settled
    monkeypatch.setattr(
        StatCache,
        "_settled",
        lambda self, ident, started: ident[1] != fresh and settled(self, ident, started),
    )
    cache = StatCache(tmp_path / "cache.db", settle_ns=0)
    first = digest_path(tmp_path / "data", cache=cache)
    for _ in range(2):
        reads.clear()
        assert digest_path(tmp_path / "data", cache=cache) == first
        assert reads == [105]


def test_snapshot_of_the_first_format_is_a_plain_miss(
    dataset: Callable[..., list[Path]],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    reads: list[int],
) -> None:
    """A cache written by a tracline with format-1 snapshots (table ``trees``) serves the
    files from their own rows, without a warning, and gets a current snapshot."""
    dataset(tmp_path / "data")
    db = tmp_path / "cache.db"
    expected = digest_path(tmp_path / "data", cache=StatCache(db, settle_ns=0))
    payload = marshal.dumps(({}, (), "0" * 64, 0), 4)
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM snapshots")
        conn.execute(
            "CREATE TABLE trees (root BLOB NOT NULL, algorithm TEXT NOT NULL, "
            "snapshot BLOB NOT NULL, PRIMARY KEY (root, algorithm)) WITHOUT ROWID"
        )
        conn.execute(
            "INSERT INTO trees VALUES (?, 'blake3', ?)",
            (os.fsencode(tmp_path / "data") + b"/", blake3.blake3(payload).digest() + payload),
        )
    reads.clear()
    with caplog.at_level(logging.WARNING, logger="tracline.hashing"):
        assert digest_path(tmp_path / "data", cache=StatCache(db, settle_ns=0)) == expected
    assert reads == []
    assert caplog.records == []
    with sqlite3.connect(db) as conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
        assert "trees" not in tables
        assert conn.execute("SELECT count(*) FROM snapshots").fetchone() == (1,)


def test_snapshot_head_of_another_format_is_a_plain_miss(
    dataset: Callable[..., list[Path]],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    reads: list[int],
) -> None:
    """An intact head of a format this version does not know is passed over without a
    warning and replaced."""
    dataset(tmp_path / "data")
    db = tmp_path / "cache.db"
    expected = digest_path(tmp_path / "data", cache=StatCache(db, settle_ns=0))
    payload = marshal.dumps((99, "from the future"), 4)
    with sqlite3.connect(db) as conn:
        (head,) = conn.execute("SELECT head FROM snapshots").fetchone()
        conn.execute("UPDATE snapshots SET head = ?", (blake3.blake3(payload).digest() + payload,))
    reads.clear()
    with caplog.at_level(logging.WARNING, logger="tracline.hashing"):
        assert digest_path(tmp_path / "data", cache=StatCache(db, settle_ns=0)) == expected
    assert reads == []
    assert caplog.records == []
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT head FROM snapshots").fetchone() == (head,)


def test_names_that_are_not_utf8_are_served_from_the_cache(
    tmp_path: Path, make_old: Callable[..., None], reads: list[int]
) -> None:
    """A file whose name is not valid UTF-8 is cached and served under its raw bytes."""
    root = tmp_path / "data"
    root.mkdir()
    raw = os.fsencode(root) + b"/caf\xe9"
    with open(raw, "wb") as handle:
        handle.write(b"latin-1 name")
    (root / "plain").write_bytes(b"x")
    make_old(Path(os.fsdecode(raw)), root / "plain")
    cache = StatCache(tmp_path / "cache.db", settle_ns=0)
    first = digest_path(root, cache=cache)
    reads.clear()
    assert digest_path(root, cache=cache) == first
    assert reads == []
    assert first == digest_path(root, cache=False)


def test_subdirectory_is_served_from_its_files_rows(
    dataset: Callable[..., list[Path]], tmp_path: Path, reads: list[int]
) -> None:
    """After digesting a tree, digesting one of its subdirectories reads nothing."""
    dataset(tmp_path / "data" / "inner")
    cache = StatCache(tmp_path / "cache.db", settle_ns=0)
    digest_path(tmp_path / "data", cache=cache)
    reads.clear()
    inner = digest_path(tmp_path / "data" / "inner", cache=cache)
    assert reads == []
    assert inner == digest_path(tmp_path / "data" / "inner", cache=False)


def test_cached_tree_digest_follows_every_change(
    dataset: Callable[..., list[Path]], tmp_path: Path
) -> None:
    """Adding, removing or renaming a file or retargeting a dangling link is never missed."""
    root = tmp_path / "data"
    files = dataset(root, n=4)
    cache = StatCache(tmp_path / "cache.db", settle_ns=0)

    def check() -> str:
        cached = digest_path(root, cache=cache)
        assert cached == digest_path(root, cache=cache) == digest_path(root, cache=False)
        return cached.digest

    seen = {check()}
    (root / "latest").symlink_to("run-1")
    seen.add(check())
    (root / "latest").unlink()
    (root / "latest").symlink_to("run-2")
    seen.add(check())
    (root / "extra").write_bytes(b"new")
    seen.add(check())
    files[0].unlink()
    seen.add(check())
    files[1].rename(root / "renamed")
    seen.add(check())
    assert len(seen) == 6


def test_cached_tree_digest_follows_linked_files_and_directories(
    dataset: Callable[..., list[Path]], tmp_path: Path
) -> None:
    """A linked file edited outside the tree, a file link or a directory link retargeted,
    is never missed."""
    root = tmp_path / "data"
    dataset(root, n=2)
    outside = dataset(tmp_path / "store", n=3)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x").write_bytes(b"elsewhere")
    cache = StatCache(tmp_path / "cache.db", settle_ns=0)

    def check() -> str:
        cached = digest_path(root, cache=cache)
        assert cached == digest_path(root, cache=cache) == digest_path(root, cache=False)
        return cached.digest

    (root / "weights").symlink_to(outside[0])
    (root / "shared").symlink_to(tmp_path / "store")
    seen = {check()}
    outside[0].write_bytes(b"retrained")
    seen.add(check())
    (root / "weights").unlink()
    (root / "weights").symlink_to(outside[1])
    seen.add(check())
    (root / "shared").unlink()
    (root / "shared").symlink_to(tmp_path / "other")
    seen.add(check())
    assert len(seen) == 4
