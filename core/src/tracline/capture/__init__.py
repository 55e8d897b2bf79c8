"""Capture: observe a run's files, recipe and GPU use, and record the facts (a RunRecord).

    from tracline.capture import capture_command, capture_in_process

    record = capture_command(["python", "train.py"])      # what `tracline run` does
    with capture_in_process(job="train") as capture:        # inside an orchestrator's task
        train()
    capture.record.inputs, capture.record.gpu               # facts; tracline.events builds

See ``docs/capture.md`` for how files are observed and which are ignored.
"""

from __future__ import annotations

TYPE_CHECKING = False  # no typing at run time: `tracline run` imports this before the command
if TYPE_CHECKING:
    from typing import Any

    from tracline.capture._classify import IgnoreRules, glob_regex
    from tracline.capture._command import CAPTURE_MODES, capture_command, find_strace
    from tracline.capture._inproc import InProcessCapture, capture_in_process
    from tracline.capture._jobs import job_name
    from tracline.capture._mechanism import (
        PRELOAD_LIBRARY,
        Mechanism,
        mechanism,
        preload_library,
        worker_environment,
    )
    from tracline.capture._names import new_run_id
    from tracline.capture._redact import REDACTED, redact_argv, redact_env, redact_text
    from tracline.capture._tree import (
        alive,
        become_subreaper,
        descendants,
        outliving,
        stop_tree,
    )
    from tracline.record import FileRecord, RunRecord

#: Public name -> the module defining it; loaded on first use to keep `tracline run` fast.
_EXPORTS = {
    "CAPTURE_MODES": "_command", "PRELOAD_LIBRARY": "_mechanism", "Mechanism": "_mechanism",
    "mechanism": "_mechanism", "preload_library": "_mechanism",
    "worker_environment": "_mechanism",
    "FileRecord": "tracline.record", "IgnoreRules": "_classify", "InProcessCapture": "_inproc",
    "REDACTED": "_redact", "RunRecord": "tracline.record", "capture_command": "_command",
    "capture_in_process": "_inproc", "find_strace": "_command", "glob_regex": "_classify",
    "job_name": "_jobs", "new_run_id": "_names", "redact_argv": "_redact", "redact_env": "_redact",
    "redact_text": "_redact",
    "alive": "_tree", "become_subreaper": "_tree", "descendants": "_tree", "outliving": "_tree",
    "stop_tree": "_tree",
}

__all__ = [
    "CAPTURE_MODES",
    "PRELOAD_LIBRARY",
    "REDACTED",
    "FileRecord",
    "IgnoreRules",
    "InProcessCapture",
    "Mechanism",
    "RunRecord",
    "alive",
    "become_subreaper",
    "capture_command",
    "capture_in_process",
    "descendants",
    "find_strace",
    "glob_regex",
    "job_name",
    "mechanism",
    "new_run_id",
    "outliving",
    "preload_library",
    "redact_argv",
    "redact_env",
    "redact_text",
    "stop_tree",
    "worker_environment",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        module = _EXPORTS[name]
        if not module.startswith("tracline."):
            module = f"tracline.capture.{module}"
        return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
