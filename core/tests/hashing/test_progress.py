"""The progress bar: shown on stderr only when asked for, and it does not change digests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracline.hashing import digest_path


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make rich treat the captured stderr as an interactive terminal."""
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("TTY_INTERACTIVE", "1")


@pytest.mark.usefixtures("terminal")
def test_progress_bar_only_when_asked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """progress=True draws a bar naming what is hashed; progress=False prints nothing."""
    root = tmp_path / "dataset"
    root.mkdir()
    (root / "big.bin").write_bytes(b"\x01" * (20 << 20))
    (root / "small.txt").write_text("hello")
    quiet = digest_path(root, cache=False)
    assert capsys.readouterr().err == ""
    shown = digest_path(root, cache=False, progress=True)
    assert shown == quiet
    assert "hashing dataset/" in capsys.readouterr().err
    assert digest_path(root / "big.bin", cache=False, progress=True).size == 20 << 20
    assert "hashing big.bin" in capsys.readouterr().err
