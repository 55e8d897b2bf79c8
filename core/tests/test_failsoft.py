"""Fail-soft lineage for orchestrator hooks (tracline.failsoft)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tracline.config import Config, load_config, reset_config
from tracline.failsoft import FailSoft, ignoring


def test_a_failing_hook_returns_none_and_warns_once_per_kind(
        caplog: pytest.LogCaptureFixture) -> None:
    """A hook that raises gives None to its caller; each kind of failure is logged once
    (with what goes on without lineage), a second kind is logged too."""
    soft = FailSoft(logging.getLogger("tracline.test"), "the task")
    calls: list[int] = []

    @soft
    def on_start(kind: type[Exception]) -> int:
        calls.append(1)
        raise kind("boom")

    with caplog.at_level(logging.WARNING, "tracline.test"):
        assert on_start(ValueError) is None
        assert on_start(ValueError) is None
        assert on_start(KeyError) is None
    assert len(calls) == 3
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "tracline: on_start failed (ValueError: boom); the task goes on without it",
        "tracline: on_start failed (KeyError: 'boom'); the task goes on without it"]


def test_a_working_hook_returns_its_value() -> None:
    """Fail-soft changes nothing for a hook that works."""
    soft = FailSoft(logging.getLogger("tracline.test"), "the flow")
    assert soft(lambda x: x + 1)(1) == 2


def test_invalid_configuration_turns_lineage_off_with_one_warning(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """A configuration that does not load is None (lineage off) with the reason said once;
    TRACLINE_DISABLED is None without a word."""
    soft = FailSoft(logging.getLogger("tracline.test"), "the step")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRACLINE__OUTBOX__FLUSH_TIMEOUT", "soon")
    reset_config()
    try:
        with caplog.at_level(logging.WARNING, "tracline.test"):
            assert soft.config() is None
            assert soft.config() is None
        assert len(caplog.records) == 1
        assert caplog.records[0].getMessage().startswith(
            "tracline: lineage is off for this process: ")
        monkeypatch.delenv("TRACLINE__OUTBOX__FLUSH_TIMEOUT")
        monkeypatch.setenv("TRACLINE_DISABLED", "1")
        reset_config()
        assert soft.config() is None
        assert len(caplog.records) == 1
    finally:
        reset_config()


def test_ignoring_adds_the_orchestrators_folders_to_capture_ignore() -> None:
    """The orchestrator's folders are added under [capture] ignore, after the user's own,
    and the rest of the configuration is unchanged."""
    base = load_config(environ={"TRACLINE__CAPTURE__ALGORITHM": "sha256"}, cwd="/")
    base = base.replace(sections={**base.sections, "capture": {
        **base.section("capture"), "ignore": ["data/tmp/**"]}})
    changed = ignoring(base, ["/srv/airflow/", "/srv/logs"])
    assert isinstance(changed, Config)
    assert changed.section("capture")["ignore"] == [
        "data/tmp/**", "/srv/airflow/**", "/srv/logs/**"]
    assert changed.section("capture")["algorithm"] == "sha256"
    assert base.section("capture")["ignore"] == ["data/tmp/**"]
