"""Directory digests: walk, hash many files in parallel, fold into a Merkle digest.

The algorithm is specified in ``docs/hashing.md``; change it only with a new header version.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait

from tracline.errors import HashError
from tracline.hashing import _file
from tracline.hashing._digest import new_hasher
from tracline.hashing._file import Advance, os_error

__all__ = ["HEADER", "File", "Link", "hash_many", "merkle_hex", "walk"]

#: Domain separation: a directory's digest never equals the digest of a file's bytes.
HEADER = b"tracline-tree-v1\0"

#: A batch handed to one worker: at most this many files or (roughly) bytes.
_BATCH_FILES = 256
_BATCH_BYTES = 16 << 20


#: (device, inode) and path of each directory from the root down to the current one.
_Ancestors = tuple[tuple[tuple[int, int], bytes], ...]

#: A regular file under the root: (relative path, path, stat).
File = tuple[bytes, bytes, os.stat_result]
#: A dangling symlink under the root: (relative path, target text).
Link = tuple[bytes, bytes]


def _refuse_special(path: bytes, mode: int) -> HashError:
    kind = _file.special_kind(mode) or "not a regular file"
    return HashError(
        f"refusing to hash {os.fsdecode(path)}: it is {kind}",
        hint="remove it from the directory, or hash the directory's regular files one by one",
    )


def walk(root: str) -> tuple[list[File], list[Link]]:
    """List the leaves under ``root`` (symlinks followed, loops refused), unsorted."""
    try:
        root_st = os.stat(root)
    except OSError as e:
        raise os_error(root, e, "stat") from e
    files: list[File] = []
    links: list[Link] = []
    top = os.fsencode(root)
    stack: list[tuple[bytes, bytes, _Ancestors]] = [
        (top, b"", (((root_st.st_dev, root_st.st_ino), top),))
    ]
    while stack:
        folder, prefix, ancestors = stack.pop()
        try:
            listing = os.scandir(folder)
        except OSError as e:
            raise os_error(folder, e, "list") from e
        with listing:
            for item in listing:
                rel = prefix + item.name
                try:
                    st = item.stat(follow_symlinks=False)
                    if stat.S_ISLNK(st.st_mode):
                        try:
                            st = os.stat(item.path)
                        except FileNotFoundError:
                            links.append((rel, os.readlink(item.path)))
                            continue
                except OSError as e:
                    raise os_error(item.path, e, "stat") from e
                if stat.S_ISREG(st.st_mode):
                    files.append((rel, item.path, st))
                elif stat.S_ISDIR(st.st_mode):
                    ident = (st.st_dev, st.st_ino)
                    for seen, where in ancestors:
                        if seen == ident:
                            raise HashError(
                                f"cannot hash {root}: symlink loop {os.fsdecode(item.path)} -> "
                                f"{os.fsdecode(os.readlink(item.path))} leads back to "
                                f"{os.fsdecode(where)}",
                                hint="remove the symlink or point it outside the directory",
                            )
                    stack.append((item.path, rel + b"/", (*ancestors, (ident, item.path))))
                else:
                    raise _refuse_special(item.path, st.st_mode)
    return files, links


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
        size += entry[2].st_size
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
