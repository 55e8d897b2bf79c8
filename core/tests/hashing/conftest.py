"""Fixtures for the hashing tests."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tracline.hashing import _file

HashFd = Callable[[int, str, int, object], tuple[str, int]]


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the files actually read: one entry (the expected size) per low-level hash call."""
    calls: list[int] = []
    original: HashFd = _file._hash_fd

    def counting(fd: int, algorithm: str, size: int, advance: object) -> tuple[str, int]:
        calls.append(size)
        return original(fd, algorithm, size, advance)

    monkeypatch.setattr(_file, "_hash_fd", counting)
    return calls


def _make_old(*paths: Path) -> None:
    for path in paths:
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - 3600 * 10**9))


@pytest.fixture
def make_old() -> Callable[..., None]:
    """Set files' modification time an hour back, so later writes surely change it."""
    return _make_old
