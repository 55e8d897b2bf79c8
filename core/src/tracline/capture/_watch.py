"""Follow a run while it goes on: read its capture log and trace files, hash inputs early.

Inputs are hashed as soon as a process opens them, on another core while the run works, so
their digest is the content the run read and little hashing is left when it ends. At the
end each early digest is kept only if the file's stat is unchanged since (else the file is
hashed again, or — if the run itself changed it — the early digest stands, marked modified).
"""

from __future__ import annotations

import glob
import os
import stat
import threading
import time
from typing import Any

from tracline.capture._classify import IgnoreRules
from tracline.capture._observe import Observed, StraceParser, Tail
from tracline.capture._record import FileRecord
from tracline.errors import HashError

__all__ = ["Hashes", "Watcher"]

_Key = tuple[int, int, int, int, int]


def _key(st: os.stat_result) -> _Key:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class Hashes:
    """Digests taken during a run, each with the stat it was taken at."""

    def __init__(self, algorithm: str = "blake3", cache: bool = True) -> None:
        self.algorithm = algorithm
        self.cache = cache
        self._store: Any = None
        self.taken: dict[str, tuple[_Key, FileRecord]] = {}
        self._new: list[tuple[str, os.stat_result, str]] = []
        self._started = time.time_ns()

    @property
    def store(self) -> Any:
        """The stat cache, opened on first use (a run that touches no file never opens it)."""
        if self._store is None:
            from tracline.hashing._cache import resolve_cache

            self._store = resolve_cache(self.cache) or False
        return self._store

    def take(self, path: str) -> FileRecord | None:
        """Digest ``path`` now; None when it is not a regular file (or no longer exists)."""
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
        from tracline.hashing import digest_file

        hexdigest = self.store.lookup(path, st, self.algorithm) if self.store else None
        if hexdigest is not None:
            record = FileRecord(path, f"{self.algorithm}:{hexdigest}", st.st_size, 1, "file")
        else:
            try:
                digest = digest_file(path, self.algorithm, cache=False)
            except HashError as e:
                return FileRecord(path, error=e.message)
            record = FileRecord(path, digest.digest, digest.size, digest.file_count, digest.kind)
            self._new.append((path, st, digest.digest.split(":", 1)[1]))
        self.taken[path] = (_key(st), record)
        return record

    def final(self, path: str, *, modified: bool = False) -> FileRecord | None:
        """The digest of ``path`` now: the early one if the file is unchanged since."""
        early = self.taken.get(path)
        try:
            st = os.stat(path)
        except OSError:
            st = None
        if early is not None and (st is None or _key(st) == early[0] or modified):
            record = early[1]
            record.modified = modified and st is not None and _key(st) != early[0]
            return record
        if st is None:
            return FileRecord(path, error=f"{path} was removed before it could be hashed") \
                if early is None and os.path.lexists(path) else None
        return self.take(path)

    def save(self) -> None:
        """Remember new digests in the stat cache (one transaction)."""
        if self._new and self.store:
            self.store.store_many(self._new, self.algorithm, self._started)
            self._new = []


class Watcher:
    """Tails the capture log and trace files of one run in a thread."""

    def __init__(self, capture_dir: str, log_path: str, cwd: str, rules: IgnoreRules,
                 hashes: Hashes | None, *, interval: float = 0.02) -> None:
        self.capture_dir = capture_dir
        self.cwd = cwd
        self.rules = rules
        self.hashes = hashes
        self.interval = interval
        self.observed = Observed()
        self.hook = Tail(log_path)
        self.traces: dict[str, tuple[Tail, StraceParser]] = {}
        self._pythons = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> Watcher:
        self._thread = threading.Thread(target=self._loop, name="tracline-watch", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            busy = self.poll()
            if not busy:
                self._stop.wait(self.interval)

    def poll(self, *, early: bool = True) -> bool:
        """Read what was appended since the last poll; hash new inputs. True if any."""
        with self._lock:
            obs = self.observed
            before = len(obs.reads)
            lines = self.hook.lines()
            for line in lines:
                obs.feed_hook_line(line)
            for path in glob.glob(os.path.join(self.capture_dir, "strace.*")):
                if path not in self.traces:
                    self.traces[path] = (Tail(path), StraceParser(obs, self.cwd))
                tail, parser = self.traces[path]
                more = tail.lines()
                parser.feed(more)
                lines += more
            while self._pythons < len(obs.pythons):
                self.rules.add_python(obs.pythons[self._pythons])
                self._pythons += 1
            if early and self.hashes is not None and len(obs.reads) > before:
                for path in list(obs.reads)[before:]:
                    if obs.first.get(path) == "R" and not self.rules.ignored(path):
                        self.hashes.take(path)
            return bool(lines)

    def stop(self) -> Observed:
        """Stop the thread, read what is left, and return everything observed."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        while self.poll(early=False):
            pass
        return self.observed
