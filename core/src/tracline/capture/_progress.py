"""Progress of the hashing left when a command has ended, on a terminal, after a second.

Most of a run's files are hashed while it goes on; what is left at its end (a large output,
an input that changed) is on the user's clock. If that takes more than ``[capture]
progress_after`` seconds (1 by default) and stderr is a terminal, a progress bar (rich, on
stderr, cleared when done) says what is being hashed. Nothing is drawn — and rich is never
imported — when stderr is not a terminal or the hashing is quick; counting the bytes is one
addition per chunk.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

__all__ = ["EndProgress"]


class EndProgress:
    """Counts the bytes hashed at a run's end; draws a bar once it has taken long enough."""

    def __init__(self, total: int, files: int, *, after: float = 1.0,
                 stream: Any = None) -> None:
        self.total, self.files, self.after = total, files, after
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self.current = ""
        self._finished = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> EndProgress:
        try:
            terminal = self.total > 0 and os.isatty(self.stream.fileno())
        except (AttributeError, OSError, ValueError):
            terminal = False
        if terminal:
            self._thread = threading.Thread(target=self._draw, name="tracline-progress",
                                            daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._finished.set()
        if self._thread is not None:
            self._thread.join()

    def advance(self, n: int) -> None:
        """``n`` more bytes hashed (called from the hashing loop)."""
        self.done += n

    def _draw(self) -> None:
        if self._finished.wait(self.after):
            return
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

        with Progress(TextColumn("tracline: hashing {task.description}"), BarColumn(),
                      DownloadColumn(), console=Console(file=self.stream), transient=True) as bar:
            task = bar.add_task(self._label(), total=self.total)
            while not self._finished.wait(0.1):
                bar.update(task, completed=self.done, description=self._label())

    def _label(self) -> str:
        name = os.path.basename(self.current) if self.current else ""
        return f"{self.files} file(s) {name}".rstrip()
