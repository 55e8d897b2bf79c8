"""Every way hashing can fail names the file at fault, says what to do, and never hangs."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tracline.errors import ChangedWhileHashing, HashError
from tracline.hashing import _file, digest_file, digest_path

HashFd = Callable[[int, str, int, object], tuple[str, int]]
_READ: HashFd = _file._hash_fd


def _finishes(call: Callable[[], object]) -> BaseException | None:
    """Run ``call`` in a thread and return what it raised; fail if it hangs."""
    pool = ThreadPoolExecutor(1)
    try:
        return pool.submit(call).exception(timeout=300)
    except TimeoutError:
        pytest.fail("hashing blocked (hang guard tripped)")
    finally:
        pool.shutdown(wait=False)


def test_missing_path(tmp_path: Path) -> None:
    """A path that does not exist raises HashError naming it, with a hint."""
    with pytest.raises(HashError) as caught:
        digest_path(tmp_path / "nope", cache=False)
    assert "nope" in caught.value.message
    assert "no such file" in caught.value.message
    assert caught.value.hint


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    """A FIFO, alone or inside a directory, is refused at once (no writer needed)."""
    os.mkfifo(tmp_path / "pipe")
    for target in (tmp_path / "pipe", tmp_path):
        error = _finishes(lambda t=target: digest_path(t, cache=False))
        assert isinstance(error, HashError)
        assert "pipe" in error.message
        assert "FIFO" in error.message


def test_fifo_swapped_in_after_stat_does_not_block(tmp_path: Path) -> None:
    """If a FIFO replaces a file between stat and open, the open returns and the swap is named."""
    (tmp_path / "file").write_bytes(b"x")
    before = os.stat(tmp_path / "file")
    os.mkfifo(tmp_path / "pipe")
    pipe = str(tmp_path / "pipe")
    error = _finishes(lambda: _file.hash_regular(pipe, "blake3", None, before))
    assert isinstance(error, ChangedWhileHashing)
    assert "replaced" in error.message


def test_character_device_is_refused() -> None:
    """A character device (/dev/null) is refused as a special file."""
    with pytest.raises(HashError) as caught:
        digest_file("/dev/null", cache=False)
    assert "character device" in caught.value.message
    assert "/dev/null" in caught.value.message


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory with a short path (Unix socket paths are limited to ~100 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="tl-"))
    yield path
    shutil.rmtree(path)


def test_socket_is_refused(short_dir: Path) -> None:
    """A Unix socket inside a directory is refused, naming it."""
    (short_dir / "ok.txt").write_text("fine")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(short_dir / "sock"))
        with pytest.raises(HashError) as caught:
            digest_path(short_dir, cache=False)
    assert "sock" in caught.value.message
    assert "socket" in caught.value.message


def test_unreadable_file(tmp_path: Path) -> None:
    """A file without read permission raises HashError naming it, with a chmod hint."""
    path = tmp_path / "secret.bin"
    path.write_bytes(b"locked")
    path.chmod(0)
    if os.geteuid() != 0:
        with pytest.raises(HashError) as caught:
            digest_path(tmp_path, cache=False)
        assert "permission denied" in caught.value.message
        assert "secret.bin" in caught.value.message
        assert "chmod" in (caught.value.hint or "")
        return
    # root reads anything: check it in a child without the capabilities that bypass modes
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root and setpriv (util-linux) is absent to drop DAC override")
    code = (
        "import sys\nfrom tracline.errors import HashError\nfrom tracline.hashing import "
        "digest_path\ntry:\n    digest_path(sys.argv[1], cache=False)\nexcept HashError as e:\n"
        "    print(type(e).__name__, '|', e.message, '|', e.hint)\n"
    )
    drop = "-dac_override,-dac_read_search"
    for target in (path, tmp_path):
        done = subprocess.run(
            [setpriv, "--bounding-set", drop, sys.executable, "-c", code, str(target)],
            capture_output=True,
            text=True,
            check=False,
        )
        if "Operation not permitted" in done.stderr:
            pytest.skip("cannot drop capabilities here (setpriv needs CAP_SETPCAP)")
        assert done.stdout.startswith("HashError |"), done.stderr
        assert "permission denied" in done.stdout
        assert "secret.bin" in done.stdout
        assert "chmod" in done.stdout


def test_symlink_loop_is_named(tmp_path: Path) -> None:
    """A symlink cycle raises HashError showing the chain of links."""
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    with pytest.raises(HashError) as caught:
        digest_path(tmp_path / "a", cache=False)
    assert "symlink loop" in caught.value.message
    assert "a -> b -> a" in caught.value.message
    with pytest.raises(HashError, match="symlink loop"):
        digest_path(tmp_path, cache=False)


def test_directory_symlink_back_to_an_ancestor_is_a_loop(tmp_path: Path) -> None:
    """A directory symlink leading back up the tree is refused, naming the link and target."""
    (tmp_path / "data" / "sub").mkdir(parents=True)
    (tmp_path / "data" / "sub" / "f").write_text("x")
    (tmp_path / "data" / "sub" / "up").symlink_to("..")
    with pytest.raises(HashError) as caught:
        digest_path(tmp_path / "data", cache=False)
    assert "symlink loop" in caught.value.message
    assert "up -> .." in caught.value.message


def _interfere(monkeypatch: pytest.MonkeyPatch, action: Callable[[], object]) -> None:
    """Make ``action`` happen right after the file's bytes were read (a concurrent writer)."""

    def reading(fd: int, algorithm: str, size: int, advance: object) -> tuple[str, int]:
        result = _READ(fd, algorithm, size, advance)
        action()
        return result

    monkeypatch.setattr(_file, "_hash_fd", reading)


@pytest.mark.parametrize("size", [10, 3 << 20])
def test_file_growing_while_hashed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    """A file appended to during hashing raises ChangedWhileHashing naming it."""
    path = tmp_path / "log.txt"
    path.write_bytes(b"x" * size)

    def append() -> None:
        with path.open("ab") as handle:
            handle.write(b"more")

    _interfere(monkeypatch, append)
    with pytest.raises(ChangedWhileHashing) as caught:
        digest_path(tmp_path, cache=False)
    assert "log.txt" in caught.value.message
    assert f"size {size} -> {size + 4}" in caught.value.message
    assert caught.value.hint


def test_file_rewritten_in_place_while_hashed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same-size bytes written over a file during hashing are detected by its new mtime."""
    path = tmp_path / "weights.bin"
    path.write_bytes(b"a" * 100)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - 10**9))

    def rewrite() -> None:
        with path.open("r+b") as handle:
            handle.write(b"b" * 100)

    _interfere(monkeypatch, rewrite)
    with pytest.raises(ChangedWhileHashing, match=r"weights\.bin changed while being hashed"):
        digest_file(path, cache=False)


def test_file_replaced_or_removed_while_hashed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file renamed over or deleted during hashing raises ChangedWhileHashing."""
    path = tmp_path / "model.pt"
    path.write_bytes(b"v1")
    (tmp_path / "next").write_bytes(b"v2")
    _interfere(monkeypatch, lambda: os.replace(tmp_path / "next", path))
    with pytest.raises(ChangedWhileHashing, match=r"model\.pt changed .*replaced"):
        digest_file(path, cache=False)
    _interfere(monkeypatch, path.unlink)
    with pytest.raises(ChangedWhileHashing, match=r"model\.pt was removed"):
        digest_file(path, cache=False)
