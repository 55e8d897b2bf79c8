"""Fixtures for the hashing tests."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tracline.hashing import _file, _folder

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


@pytest.fixture(params=["c", "python"])
def walk_loop(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test with the directory walk's inner loop in C (``_listing.so``, skipped with
    the reason when it is not built) and in Python."""
    if request.param == "c":
        if _folder._library() is None:
            pytest.skip(f"{_folder.LIBRARY} is not built (no C compiler at install time)")
    else:
        monkeypatch.setattr(_folder, "_library", lambda: None)
    return str(request.param)
