"""The public digest functions: one file, one directory, or whichever a path is."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator

from tracline.errors import HashError
from tracline.hashing import _file, _tree
from tracline.hashing._cache import StatCache, now_ns, resolve_cache
from tracline.hashing._digest import DEFAULT_ALGORITHM, Digest, check_algorithm, new_hasher
from tracline.hashing._file import Advance, Identity, os_error

__all__ = ["DEFAULT_WORKERS", "digest_file", "digest_path"]

def _cores() -> int:
    """The CPUs this process may run on (its affinity, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


#: Threads hashing many files at once: one per core this process may use (blake3 itself
#: already spreads each large file over the cores, and more threads than cores only
#: contend). Set ``[hashing] workers`` in tracline.toml to change it (e.g. more, for files
#: on a network file system where threads wait on I/O).
DEFAULT_WORKERS = _cores()


def _workers() -> int:
    from tracline.config import get_config
    from tracline.errors import ConfigError

    value = get_config().section("hashing").get("workers", DEFAULT_WORKERS)
    try:
        workers = int(value)
    except (TypeError, ValueError):
        workers = 0
    if workers < 1:
        raise ConfigError(
            f"[hashing] workers = {value!r} is not a positive whole number",
            hint="set it to the number of threads hashing files at once, e.g. 8",
        )
    return workers


@contextlib.contextmanager
def _progress(total: int, label: str, enabled: bool) -> Iterator[Advance | None]:
    """A byte-counting rich progress bar on stderr, or nothing when not ``enabled``."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def digest_file(
    path: str | os.PathLike[str],
    algorithm: str = DEFAULT_ALGORITHM,
    cache: StatCache | bool | None = True,
    progress: bool = False,
) -> Digest:
    """Digest one regular file (symlinks followed), from the stat cache when unchanged."""
    check_algorithm(algorithm)
    name = os.path.abspath(os.fspath(path))
    store = resolve_cache(cache)
    started = now_ns()
    st = _file.stat_regular(name)
    hexdigest = store.lookup(name, st, algorithm) if store else None
    if hexdigest is None:
        with _progress(st.st_size, f"hashing {os.path.basename(name)}", progress) as advance:
            hexdigest, st = _file.hash_regular(name, algorithm, advance)
        if store:
            store.store_many([(name, st, hexdigest)], algorithm, started)
    return Digest(algorithm, hexdigest, st.st_size, 1, "file")


def _digest_tree(
    root: str, algorithm: str, store: StatCache | None, progress: bool, workers: int
) -> Digest:
    started = now_ns()
    listing = _tree.walk(root, workers)
    hits, tree = store.lookup_tree(root, listing, algorithm) if store else ({}, None)
    if tree is not None:
        return Digest(algorithm, tree[0], tree[1], listing.count, "directory")
    files, links = listing.leaves()
    misses = [f for f in files if f[0] not in hits]
    total = sum(ident[2] for _, _, ident in misses)
    with _progress(total, f"hashing {os.path.basename(root)}/", progress) as advance:
        hashed = _tree.hash_many(misses, algorithm, advance, workers)
    # hash_regular checked that each file still had the identity the walk saw.
    found = {path: hexdigest for path, _st, hexdigest in hashed}
    known: list[tuple[bytes, Identity, str]] = []
    leaves: list[tuple[bytes, str, str]] = []
    size = 0
    for rel, path, ident in files:
        hexdigest = hits.get(rel) or found[path]
        size += ident[2]
        known.append((rel, ident, hexdigest))
        leaves.append((rel, "f", hexdigest))
    for rel, target in links:
        hasher = new_hasher(algorithm)
        hasher.update(target)
        leaves.append((rel, "l", hasher.hexdigest()))
    tree_hex = _tree.merkle_hex(leaves, algorithm)
    if store:
        if hashed:
            store.store_many(hashed, algorithm, started)
        store.store_tree(
            root,
            known,
            links,
            algorithm,
            started_ns=started,
            tree=(tree_hex, size),
            fingerprint=listing.fingerprint,
        )
    return Digest(algorithm, tree_hex, size, len(files), "directory")


def digest_path(
    path: str | os.PathLike[str],
    algorithm: str = DEFAULT_ALGORITHM,
    cache: StatCache | bool | None = True,
    progress: bool = False,
    *,
    workers: int | None = None,
) -> Digest:
    """Digest a file, or a directory as a Merkle digest of its files (see docs/hashing.md).

    ``cache=True`` uses :func:`default_cache`; ``False``/``None`` reads every file.
    Raises :class:`HashError` (or :class:`ChangedWhileHashing`) naming the file at fault.
    """
    check_algorithm(algorithm)
    name = os.path.abspath(os.fspath(path))
    try:
        mode = os.stat(name).st_mode
    except OSError as e:
        raise os_error(name, e, "stat") from e
    if stat.S_ISDIR(mode):
        store = resolve_cache(cache)
        return _digest_tree(name, algorithm, store, progress, workers or _workers())
    if stat.S_ISREG(mode):
        return digest_file(name, algorithm, cache, progress)
    raise HashError(
        f"refusing to hash {name}: it is {_file.special_kind(mode)}",
        hint="only regular files and directories can be content-hashed",
    )
