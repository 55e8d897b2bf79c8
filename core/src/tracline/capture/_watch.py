"""Follow a run while it goes on: read its capture log and trace files, hash inputs early.

Inputs are hashed as soon as a process opens them, on another core while the run works, so
their digest is the content the run read and little hashing is left when it ends. At the
end each early digest is kept only if the file's stat is unchanged since (else the file is
hashed again, or — if the run itself changed it — the early digest stands, marked modified).
An input the run removed keeps the digest it was read with; an output the run removed is no
output, even if it was hashed while it was there.
"""

from __future__ import annotations

import glob
import itertools
import os
import stat
import threading
import time
from collections.abc import Callable
from typing import Any

import attrs

from tracline.capture._classify import IgnoreRules
from tracline.capture._observe import Observed, PythonProcess, StraceParser, Tail
from tracline.errors import ChangedWhileHashing, HashError
from tracline.hashing import Identity, check_algorithm, hash_regular, identity, stat_many
from tracline.record import FileRecord

__all__ = ["Hashes", "Watcher"]

#: A written file is hashed early once it has not been reported again for this long...
OUTPUT_SETTLE = 0.01
#: ...and only if it is small (a big checkpoint still being written would be hashed twice).
EARLY_OUTPUT_MAX = 64 << 20


def _trace_order(path: str) -> tuple[int, ...]:
    """``strace.<pid>.<n>`` sorts by pid, then by n (the n-th child that process traced)."""
    return tuple(int(part) for part in path.rsplit("/", 1)[-1].split(".")[1:] if part.isdigit())


class Hashes:
    """Digests taken during a run, each with the stat it was taken at."""

    def __init__(self, algorithm: str = "blake3", cache: bool = True) -> None:
        self.algorithm = algorithm
        self.cache = cache
        self._store: Any = None
        self.taken: dict[str, tuple[Identity, FileRecord]] = {}
        self._new: list[tuple[str, os.stat_result, str]] = []
        self._started = time.time_ns()
        #: Files seen changing while they were being hashed (someone was writing them).
        self.moving: set[str] = set()

    @property
    def store(self) -> Any:
        """The stat cache, opened on first use (a run that touches no file never opens it)."""
        if self._store is None:
            from tracline.hashing import resolve_cache

            try:
                self._store = resolve_cache(self.cache) or False
            except Exception:  # noqa: BLE001 - no cache (read-only, full disk): hash anyway
                self._store = False
        return self._store

    def take(self, path: str, st: os.stat_result | None = None, *,
             lookup: bool = True, advance: Callable[[int], object] | None = None
             ) -> FileRecord | None:
        """Digest ``path`` now; None when it is a folder or no longer exists.

        ``lookup``: try the stat cache first (pointless for a file the run just wrote).
        """
        if st is None:
            try:
                st = os.stat(path)
            except FileNotFoundError:
                return None
            except OSError as e:
                return FileRecord(path, error=f"cannot stat {path}: {e.strerror}")
        if stat.S_ISDIR(st.st_mode):
            return None
        if not stat.S_ISREG(st.st_mode):
            return FileRecord(path, error=f"{path} is not a regular file (a pipe, device or "
                              "socket), so it has no content digest")
        check_algorithm(self.algorithm)
        hexdigest = self.store.lookup(path, st, self.algorithm) if lookup and self.store \
            else None
        if hexdigest is not None:
            return self._cached(path, st, hexdigest)
        # What digest_file(path, cache=False) does, less its per-call set-up: this runs for
        # each of a run's (maybe thousands of) files.
        try:
            hexdigest, hashed = hash_regular(path, self.algorithm, advance, before=st)
        except HashError as e:
            if isinstance(e, ChangedWhileHashing):
                self.moving.add(path)
            return FileRecord(path, error=e.message)
        record = FileRecord(path, f"{self.algorithm}:{hexdigest}", hashed.st_size, 1, "file")
        self._new.append((path, st, hexdigest))
        self.taken[path] = (identity(st), record)
        return record

    def _cached(self, path: str, st: os.stat_result, hexdigest: str) -> FileRecord:
        record = FileRecord(path, f"{self.algorithm}:{hexdigest}", st.st_size, 1, "file")
        self.taken[path] = (identity(st), record)
        return record

    def take_many(self, paths: list[str]) -> None:
        """:meth:`take` each of ``paths`` (inputs), their stat-cache entries looked up in a
        query per 500 files rather than one each; those that cannot be taken now (gone,
        unreadable, not regular files) are left to :meth:`final`."""
        found: list[tuple[str, os.stat_result]] = []
        for path in paths:
            try:
                st = os.stat(path)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                found.append((path, st))
        if not found:
            return
        check_algorithm(self.algorithm)
        cached = self.store.lookup_many(found, self.algorithm) if self.store else {}
        for path, st in found:
            hexdigest = cached.get(path)
            if hexdigest is not None:
                self._cached(path, st, hexdigest)
            else:
                self.take(path, st, lookup=False)

    def confirmed(self, paths: list[str]) -> set[str]:
        """Those of ``paths`` whose early digest still holds — the file's identity (device,
        inode, size, mtime, ctime) is what it was when it was hashed — in one batch of
        stats (the end of a run checks thousands). For the others, :meth:`final`."""
        taken = self.taken
        hashed = [path for path in paths if path in taken]
        return {path for path, key in zip(hashed, stat_many(hashed)[1], strict=True)
                if key == taken[path][0]}

    def final(self, path: str, *, modified: bool = False, written: bool = False,
              advance: Callable[[int], object] | None = None) -> FileRecord | None:
        """The digest of ``path`` now: the early one if the file is unchanged since.

        ``modified``: an input the run changed (its early digest, taken when read, stands).
        ``written``: an output — None when it is gone (the run removed a file it had written:
        an intermediate, whatever was hashed while it was there).
        """
        early = self.taken.get(path)
        try:
            st: os.stat_result | None = os.stat(path)
        except FileNotFoundError:
            st = None
        except OSError as e:
            return FileRecord(path, error=f"cannot stat {path}: {e.strerror}")
        if st is None and written:
            return None
        if early is not None and (st is None or modified or identity(st) == early[0]):
            record = early[1]
            if modified and st is not None and identity(st) != early[0]:
                record = attrs.evolve(record, modified=True)
            return record
        if st is None:
            return None
        return self.take(path, st, lookup=not written, advance=advance)

    def save(self, *, at_least: int = 1) -> None:
        """Remember new digests in the stat cache (one transaction), once there are
        ``at_least`` of them."""
        if len(self._new) >= at_least and self.store:
            new, self._new = self._new, []
            try:
                self.store.store_many(new, self.algorithm, self._started)
            except Exception:  # noqa: BLE001 - the cache only saves work: never fail a run
                self._store = False


class Watcher:
    """Tails the capture log and trace files of one run in a thread."""

    def __init__(self, capture_dir: str, log_path: str, cwd: str, rules: IgnoreRules,
                 hashes: Hashes | None, *, interval: float = 0.01, traced: bool = False) -> None:
        self.capture_dir = capture_dir
        #: Whether strace writes trace files: from the start (``traced``: the whole tree runs
        #: under it), or once the log says a program started under it (a ``T`` record).
        self.tracing = traced
        self.cwd = cwd
        self.rules = rules
        self.hashes = hashes
        self.interval = interval
        self.observed = Observed()
        self.hook = Tail(log_path)
        self.traces: dict[str, tuple[Tail, StraceParser]] = {}
        self._pythons = 0
        self._reads = self._writes = 0
        #: Written files waiting to be hashed early: path -> when first seen written.
        self._written: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        #: Why following the run stopped early, if it did (reported as a warning).
        self.failure: str | None = None
        #: Called (in the watcher's thread) for each Python process that reports itself.
        self.on_python: Callable[[PythonProcess], None] | None = None
        #: Called first in the watcher's thread (an in-process capture makes it quiet: its
        #: hashing is tracline's own reading, not the task's).
        self.on_thread_start: Callable[[], object] | None = None

    def start(self) -> Watcher:
        self._thread = threading.Thread(target=self._loop, name="tracline-watch", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        try:
            if self.on_thread_start is not None:
                self.on_thread_start()
            while not self._stop.is_set():
                busy = self.poll()
                if not busy:
                    if self.hashes is not None:  # the run is quiet: a good time to write
                        self.hashes.save(at_least=256)
                    self._stop.wait(self.interval)
        except Exception as e:  # noqa: BLE001 - what is left is read when the run ends
            self.failure = f"early hashing stopped: {type(e).__name__}: {e}"

    def poll(self, *, early: bool = True) -> bool:
        """Read what was appended since the last poll; hash new files early. True if any."""
        with self._lock:
            obs = self.observed
            lines = self.hook.lines()
            busy = bool(lines)
            for line in lines:
                if line.startswith("T\t"):
                    # A traced program started here: what the tracers wrote so far happened
                    # before the records that follow (the next step of a pipeline, say).
                    self.tracing = True
                    busy |= self._traces(obs)
                obs.feed_hook_line(line)
            if self.tracing:
                busy |= self._traces(obs)
            while self._pythons < len(obs.pythons):
                process = obs.pythons[self._pythons]
                self.rules.add_python(process)
                self._pythons += 1
                if early and self.on_python is not None:
                    self.on_python(process)
            if early and self.hashes is not None:
                self._early(self.hashes)
            return busy

    def _traces(self, obs: Observed) -> bool:
        """Fold what strace wrote since the last look; True if anything."""
        busy = False
        # In the order each process started its traced children (glob's is the folder's):
        # a file one child wrote and the next one read is seen written first.
        for path in sorted(glob.glob(os.path.join(self.capture_dir, "strace.*")),
                           key=_trace_order):
            if path not in self.traces:
                self.traces[path] = (Tail(path), StraceParser(obs, self.cwd))
            tail, parser = self.traces[path]
            more = tail.lines()
            parser.feed(more)
            busy |= bool(more)
        return busy

    def _early(self, hashes: Hashes) -> None:
        """Hash inputs as soon as they are read, small outputs once they have settled."""
        obs, rules = self.observed, self.rules
        if len(obs.reads) > self._reads:
            hashes.take_many([path for path in itertools.islice(obs.reads, self._reads, None)
                              if obs.first.get(path) == "R" and not rules.ignored(path)])
            self._reads = len(obs.reads)
        now = time.monotonic()
        if len(obs.writes) > self._writes:
            for path in itertools.islice(obs.writes, self._writes, None):
                self._written.setdefault(path, now)
            self._writes = len(obs.writes)
        due = [p for p, seen in self._written.items() if now - seen >= OUTPUT_SETTLE]
        for path in due:
            del self._written[path]
            if rules.ignored(path, read=False):
                continue
            try:
                st = os.stat(path)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and st.st_size <= EARLY_OUTPUT_MAX:
                hashes.take(path, st, lookup=False)

    def stop(self) -> Observed:
        """Stop the thread, read what is left, and return everything observed."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        while self.poll(early=False):
            pass
        return self.observed
