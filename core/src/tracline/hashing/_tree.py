"""Directory digests: walk, hash many files in parallel, fold into a Merkle digest.

The algorithm is specified in ``docs/hashing.md``; change it only with a new header version.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import stat
import threading
from collections.abc import Callable, Iterator, Sequence
from itertools import chain

import blake3

from tracline.errors import HashError
from tracline.hashing import _file
from tracline.hashing._digest import new_hasher
from tracline.hashing._file import Advance, Identity, identity, os_error
from tracline.hashing._folder import IDENTITY, Listed, folder_lister, native

TYPE_CHECKING = False  # concurrent.futures loads only when threads are used
if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

__all__ = ["HEADER", "File", "Link", "Listing", "hash_many", "merkle_hex", "walk"]

#: Domain separation: a directory's digest never equals the digest of a file's bytes.
HEADER = b"tracline-tree-v1\0"

#: A batch handed to one worker: at most this many files or (roughly) bytes.
_BATCH_FILES = 256
_BATCH_BYTES = 16 << 20

#: O_DIRECTORY: a FIFO or file swapped in for a directory fails to open instead of blocking.
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)

#: (device, inode) and path of each directory from the root down to the current one.
_Ancestors = tuple[tuple[tuple[int, int], bytes], ...]
#: A directory still to list: its path, its relative path with a trailing "/", its ancestors.
_Folder = tuple[bytes, bytes, _Ancestors]

#: A regular file under the root: (relative path, path, identity when walked).
File = tuple[bytes, bytes, Identity]
#: A dangling symlink under the root: (relative path, target text).
Link = tuple[bytes, bytes]


def _refuse_special(path: bytes, mode: int) -> HashError:
    kind = _file.special_kind(mode) or "not a regular file"
    return HashError(
        f"refusing to hash {os.fsdecode(path)}: it is {kind}",
        hint="remove it from the directory, or hash the directory's regular files one by one",
    )


class Listing:
    """The leaves under a root, packed as one marshalled chunk per folder, and a fingerprint
    of them all in walk order.

    A chunk is ``(relative folder path, names, identities, extra files, dangling links)``:
    the names and packed identities of the folder's regular files as listed (see
    ``_folder.Listed``), then ``(name, identity)`` of the regular files found otherwise (a
    symlink followed); the fingerprint is the blake3 hash of the chunks in walk order. Two
    walks with equal fingerprints found the same files, with the same (device, inode, size,
    mtime_ns, ctime_ns), and the same dangling links: the stat cache serves an unchanged
    directory from that alone, without one Python object per file. :meth:`leaves` unpacks
    when files must be looked at one by one.
    """

    __slots__ = ("_base", "_chunks", "_leaves", "count", "fingerprint")

    def __init__(self, top: bytes, chunks: list[bytes], count: int, fingerprint: bytes) -> None:
        self._base = top if top.endswith(b"/") else top + b"/"
        self._chunks = chunks
        self._leaves: tuple[list[File], list[Link]] | None = None
        #: The number of regular files.
        self.count = count
        #: 32 bytes; equal for two walks that found exactly the same leaves in the same order.
        self.fingerprint = fingerprint

    def leaves(self) -> tuple[list[File], list[Link]]:
        """The regular files and the dangling symlinks, in walk order (unpacked once; the
        lists are shared, not to be changed)."""
        if self._leaves is None:
            files: list[File] = []
            links: list[Link] = []
            base, unpack = self._base, IDENTITY.iter_unpack
            for chunk in self._chunks:
                prefix, names, identities, extras, found = marshal.loads(chunk)
                listed = zip(names[:-1].split(b"\0") if names else (), unpack(identities),
                             strict=True)
                for name, ident in chain(listed, extras):
                    rel = prefix + name
                    files.append((rel, base + rel, ident))
                links += found
            self._leaves = files, links
        return self._leaves


def walk(root: str, workers: int = 1) -> Listing:
    """List the leaves under ``root`` (symlinks followed, loops refused), folder by folder,
    level by level; up to ``workers`` threads list the folders of a level at once."""
    try:
        root_st = os.stat(root)
    except OSError as e:
        raise os_error(root, e, "stat") from e
    top = os.fsencode(root)
    chunks: list[bytes] = []
    fingerprint = blake3.blake3()
    count = 0
    # The C loop leaves the interpreter while it stats, so threads overlap; the Python loop
    # holds it, so one thread does best.
    threads = workers if native() else 1
    local = threading.local()

    def listed(where: _Folder) -> _Listed:
        lister = getattr(local, "lister", None)
        if lister is None:
            lister = local.lister = folder_lister()
        return _list(root, where, lister)

    def list_level(level: list[_Folder], pool: ThreadPoolExecutor | None) -> list[_Listed]:
        """List every folder of ``level``, on ``pool``'s threads and this one: each takes the
        next folder not yet taken (a thread the machine leaves waiting holds up nobody)."""
        results: list[_Listed | None] = [None] * len(level)
        todo = iter(enumerate(level))  # a built-in iterator: next() is atomic under the GIL

        def drain() -> None:
            for i, where in todo:
                results[i] = listed(where)

        helpers = [pool.submit(drain) for _ in range(threads - 1)] if pool else []
        try:
            drain()
        finally:
            for helper in helpers:
                helper.exception()  # waits: no thread still lists when this returns or raises
        for helper in helpers:
            helper.result()  # a helper's error, if any
        return results  # type: ignore[return-value]  # every slot filled

    level: list[_Folder] = [(top, b"", (((root_st.st_dev, root_st.st_ino), top),))]
    with contextlib.ExitStack() as stack:
        pool: ThreadPoolExecutor | None = None
        while level:
            if pool is None and threads > 1 and len(level) > 1:
                from concurrent.futures import ThreadPoolExecutor

                pool = ThreadPoolExecutor(threads - 1, thread_name_prefix="tracline-walk")
                stack.callback(pool.shutdown, cancel_futures=True)
            results = list_level(level, pool if len(level) > 1 else None)
            below: list[_Folder] = []
            for where, (names, identities, extras, links, folders) in zip(
                level, results, strict=True
            ):
                below += folders
                if names or extras or links:
                    # Version 2 has no back-references (whose use depends on reference
                    # counts): equal contents give equal bytes.
                    chunk = marshal.dumps((where[1], names, identities, extras, links), 2)
                    fingerprint.update(chunk)
                    chunks.append(chunk)
                    count += len(identities) // IDENTITY.size + len(extras)
            level = below
    return Listing(top, chunks, count, fingerprint.digest())


#: One folder listed: its regular files packed (names, identities), the regular files its
#: symlinks lead to as (name, identity), its dangling links, its subfolders.
_Listed = tuple[bytes, bytes, list[tuple[bytes, Identity]], list[Link], list[_Folder]]


def _list(root: str, where: _Folder, list_folder: Callable[[int], Listed]) -> _Listed:
    """The folder ``where``, its regular files as ``list_folder`` packs them.

    Entries are stat'ed relative to the open folder (``fstatat``: one path component for the
    kernel to look up, not the whole path, and no mix-up should the folder be renamed
    meanwhile). Only the entries that are not plain regular files are looked at here.
    """
    folder = where[0]
    try:
        fd = os.open(folder, _DIR_FLAGS)
    except OSError as e:
        raise os_error(folder, e, "list") from e
    extras: list[tuple[bytes, Identity]] = []
    links: list[Link] = []
    folders: list[_Folder] = []
    try:
        try:
            names, identities, others = list_folder(fd)
        except OSError as e:
            raise os_error(folder, e, "list") from e
        for name in others:
            try:
                st = os.lstat(name, dir_fd=fd)
            except OSError as e:
                raise os_error(_join(folder, name), e, "stat") from e
            # A regular file here has timestamps beyond 64 bits, or was just put in place.
            if not stat.S_ISREG(st.st_mode):
                followed = _other(root, fd, where, name, st, folders=folders, links=links)
                if followed is None:
                    continue
                st = followed
            extras.append((name, identity(st)))
    finally:
        os.close(fd)
    return names, identities, extras, links, folders


def _join(folder: bytes, name: bytes) -> bytes:
    """The path of entry ``name`` of ``folder``."""
    return (folder if folder.endswith(b"/") else folder + b"/") + name


def _other(
    root: str,
    fd: int,
    where: _Folder,
    raw: bytes,
    st: os.stat_result,
    *,
    folders: list[_Folder],
    links: list[Link],
) -> os.stat_result | None:
    """Deal with an entry of ``where`` (open as ``fd``) that is not a regular file: return
    the stat of the regular file a symlink leads to; record a dangling link in ``links``,
    a directory in ``folders``; refuse anything else."""
    folder, prefix, ancestors = where
    path = _join(folder, raw)
    if stat.S_ISLNK(st.st_mode):
        try:
            try:
                st = os.stat(raw, dir_fd=fd)
            except FileNotFoundError:
                links.append((prefix + raw, os.readlink(raw, dir_fd=fd)))
                return None
        except OSError as e:
            raise os_error(path, e, "stat") from e
        if stat.S_ISREG(st.st_mode):
            return st
    if stat.S_ISDIR(st.st_mode):
        ident = (st.st_dev, st.st_ino)
        for seen, above in ancestors:
            if seen == ident:
                raise HashError(
                    f"cannot hash {root}: symlink loop {os.fsdecode(path)} -> "
                    f"{os.fsdecode(os.readlink(path))} leads back to "
                    f"{os.fsdecode(above)}",
                    hint="remove the symlink or point it outside the directory",
                )
        folders.append((path, prefix + raw + b"/", (*ancestors, (ident, path))))
        return None
    raise _refuse_special(path, st.st_mode)


def merkle_hex(leaves: Sequence[tuple[bytes, str, str]], algorithm: str) -> str:
    """The directory digest of ``(relative path, kind, hex)`` leaves (sorted here)."""
    hasher = new_hasher(algorithm)
    hasher.update(HEADER)
    hasher.update(
        b"".join(
            b"%s %s %s\0" % (kind.encode(), hexdigest.encode(), rel)
            for rel, kind, hexdigest in sorted(leaves)
        )
    )
    return hasher.hexdigest()


def _batches(files: Sequence[File]) -> Iterator[list[File]]:
    batch: list[File] = []
    size = 0
    for entry in files:
        batch.append(entry)
        size += entry[2][2]
        if len(batch) >= _BATCH_FILES or size >= _BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _hash_batch(
    batch: list[File], algorithm: str, advance: Advance | None
) -> list[tuple[bytes, os.stat_result, str]]:
    out = []
    for _rel, path, before in batch:
        hexdigest, st = _file.hash_regular(path, algorithm, advance, before)
        out.append((path, st, hexdigest))
    return out


def hash_many(
    files: Sequence[File], algorithm: str, advance: Advance | None, workers: int
) -> list[tuple[bytes, os.stat_result, str]]:
    """Hash ``files`` with ``workers`` threads; return ``(path, stat, hex)`` per file."""
    if workers <= 1 or len(files) <= 1:
        return _hash_batch(list(files), algorithm, advance)
    from concurrent.futures import ThreadPoolExecutor, wait

    results: list[tuple[bytes, os.stat_result, str]] = []
    with ThreadPoolExecutor(workers, thread_name_prefix="tracline-hash") as pool:
        futures: list[Future[list[tuple[bytes, os.stat_result, str]]]] = [
            pool.submit(_hash_batch, batch, algorithm, advance) for batch in _batches(files)
        ]
        try:
            for future in futures:
                results.extend(future.result())
        except BaseException:
            for future in futures:
                future.cancel()
            wait(futures)
            raise
    return results
