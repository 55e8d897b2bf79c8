"""`tracline doctor`: each part's state, what to do about it, exit 1 only on a failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from delivery.servers import LineageBackend, free_port

from tracline.cli import main
from tracline.config import load_config, reset_config
from tracline.delivery import wait_delivered

Checks = dict[str, dict[str, str]]


def _doctor(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Checks]:
    reset_config()
    code = main(["doctor", "--json", *args])
    checks = json.loads(capsys.readouterr().out)
    return code, {c["name"]: c for c in checks}


def test_a_fresh_folder_is_ready_and_left_untouched(
        tracline_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Nothing exists yet: every store will be made on first use, and the doctor makes none."""
    code, checks = _doctor(capsys)
    assert code == 0
    statuses = {n: c["status"] for n, c in checks.items() if n != "capture: in-process tasks"}
    assert set(statuses.values()) == {"ok"}, checks
    assert "not created yet" in checks["outbox"]["detail"]
    assert "not created yet" in checks["sink local (registry)"]["detail"]
    assert checks["capture: tracline run"]["detail"].startswith("preload: every file")
    assert not tracline_home.exists()


def test_after_a_run_it_counts_what_was_recorded(
        tracline_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    done = subprocess.run([sys.executable, "-m", "tracline", "run", "--", sys.executable,
                           "-c", "pass"], cwd=tracline_home.parent, capture_output=True,
                          text=True, timeout=120, check=False,
                          env={**os.environ, "TRACLINE__CAPTURE__DELIVER": "inline",
                               "TRACLINE__OUTBOX__FLUSH_TIMEOUT": "120"})
    assert done.returncode == 0, done.stderr
    wait_delivered(load_config())
    code, checks = _doctor(capsys)
    assert code == 0
    assert "(2 events stored)" in checks["outbox"]["detail"]
    assert "(2 events indexed)" in checks["sink local (registry)"]["detail"]


def test_sinks_that_answer_and_that_do_not(
        tracline_home: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A lineage endpoint that answers is ok; one that does not is a warning (events wait in
    the outbox), with its password never shown."""
    backend = LineageBackend(tracline_home.parent)
    backend.start()
    try:
        dead = free_port()
        (tracline_home.parent / "tracline.toml").write_text(
            f'[sinks.up]\ntype = "http"\nurl = "{backend.url}/api/v1/health"\n'
            f'[sinks.down]\ntype = "marquez"\nurl = "http://ops:s3cret@127.0.0.1:{dead}"\n')
        code, checks = _doctor(capsys, "--timeout", "2")
    finally:
        backend.stop()
    assert code == 0
    assert checks["sink up (http)"]["status"] == "ok"
    down = checks["sink down (marquez)"]
    assert down["status"] == "warn" and "does not answer" in down["detail"]
    assert "ops:***@" in down["detail"] and "s3cret" not in json.dumps(checks)


def test_failures_say_what_to_do_and_exit_1(
        tracline_home: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An outbox that cannot be created and a malformed price table fail, with hints; the
    other checks still run."""
    (tracline_home.parent / "tracline.toml").write_text(
        '[prices.B200]\nper_gpu_hour = "lots"\ncurrency = "USD"\nsource = "x"\n'
        'as_of = 2025-01-31\n')
    blocker = tracline_home.parent / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("TRACLINE_OUTBOX", str(blocker / "outbox.db"))
    code, checks = _doctor(capsys)
    assert code == 1
    assert checks["outbox"]["status"] == "fail" and checks["outbox"]["hint"]
    assert "not a writable folder" in checks["outbox"]["detail"]
    assert checks["GPUs"]["status"] == "fail" and "B200" in checks["GPUs"]["detail"]
    assert checks["capture: strace"]["status"] in {"ok", "warn"}


def test_a_broken_configuration_is_one_failure(
        tracline_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tracline_home.parent / "tracline.toml").write_text("[tracline\nnamespace = 1\n")
    code, checks = _doctor(capsys)
    assert code == 1 and list(checks) == ["configuration"]
    assert checks["configuration"]["status"] == "fail" and checks["configuration"]["hint"]


def test_python_hook_and_text_output(
        tracline_home: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """With the interposer turned off the doctor names the fallback and what it misses."""
    monkeypatch.setenv("TRACLINE__CAPTURE__PRELOAD", "false")
    reset_config()
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "capture: tracline run: audit-hook+strace" in out
    assert "0 failure(s)" in out


def test_in_process_mechanism_follows_the_worker_environment(
        tracline_home: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """In a worker's environment with the interposer preloaded, in-process tasks see native
    I/O; without it the doctor warns and gives the exact LD_PRELOAD to set."""
    from tracline.capture import worker_environment

    monkeypatch.delenv("LD_PRELOAD", raising=False)
    _, checks = _doctor(capsys)
    check = checks["capture: in-process tasks"]
    assert check["status"] == "warn"
    assert worker_environment()["LD_PRELOAD"] in check["hint"]
    monkeypatch.setenv("LD_PRELOAD", worker_environment()["LD_PRELOAD"])
    _, checks = _doctor(capsys)
    check = checks["capture: in-process tasks"]
    assert check["status"] == "ok" and check["detail"].startswith("preload: every file")
