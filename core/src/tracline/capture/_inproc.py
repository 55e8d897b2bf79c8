"""``capture_in_process``: observe a task that runs inside this process (an orchestrator's).

    with capture_in_process(job="train") as capture:
        train()                       # the task's own code, any threads it starts
    capture.record.inputs             # FileRecords with digests
    tracline.events.record_facets(capture.record)   # {"tracline_execution": ..., ...}

Where the worker was started with capture's interposer preloaded (see
:func:`tracline.capture.worker_environment`), the capture turns it on: every file the process
and its children open is recorded, native code's included. Elsewhere the audit hook is
installed once per process (idle outside a capture) and records the files Python opens;
children report through the same bootstrap as under ``tracline run`` (non-Python ones under
strace). ``captureMode`` says which.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs

from tracline.capture import _hooks, _spawn
from tracline.capture._classify import IgnoreRules
from tracline.capture._command import _Capture, child_environment, find_strace
from tracline.capture._mechanism import interposer, mechanism, preload_library, preloaded_path
from tracline.capture._names import new_run_id, utcnow
from tracline.capture._observe import PythonProcess
from tracline.capture._recipe import git_info, interpreter_info, packages_for
from tracline.capture._redact import redact_argv
from tracline.capture._task import callable_recipe, imported_since, referenced_modules, task_argv
from tracline.capture._watch import Hashes, Watcher
from tracline.config import Config, get_config
from tracline.record import RunRecord

__all__ = ["InProcessCapture", "capture_in_process"]


@attrs.define
class InProcessCapture:
    """Filled in when the ``with`` block ends: ``record`` holds what the task did."""

    record: RunRecord


@contextmanager
def capture_in_process(
    job: str = "task",
    *,
    namespace: str | None = None,
    argv: list[str] | None = None,
    function: Callable[..., Any] | None = None,
    command: str | Sequence[str] | None = None,
    gpus: int | None = None,
    gpu_model: str | None = None,
    config: Config | None = None,
    emit: bool = False,
    run_id: str | None = None,
) -> Iterator[InProcessCapture]:
    """Observe the files this process (and its children) touch while the block runs.

    The recipe is the task's own: ``function`` (its Python callable: module, qualified name,
    file, source digest) or ``command`` (a shell command or argv) — else ``argv``, else this
    process's command line — and the packages of the modules the task imported while it ran,
    the modules its callable refers to, and those its children imported (not everything the
    orchestrator's worker has loaded).

    With ``emit=True`` the START and COMPLETE/FAIL events are emitted as ``tracline run``
    does (FAIL when the block raises); by default the integration puts the record's facets
    and files on its own events (``tracline.events.record_facets``, ``file_dataset``).
    """
    config = config or get_config()
    record = RunRecord(run_id=run_id or new_run_id(), job=job,
                       namespace=namespace or config.namespace,
                       argv=redact_argv(task_argv(function, command, argv)),
                       cwd=os.getcwd(), started_at=utcnow(), capture_mode="in-process",
                       producer=config.producer)
    if function is not None:
        record.callable = callable_recipe(function)
    imported_before = set(sys.modules)
    result = InProcessCapture(record)
    if config.disabled:
        yield result
        return
    capture = _Capture(record, argv or sys.argv, sys.executable, dict(os.environ), config,
                       emit=emit)
    section = capture.section
    capture_dir = os.path.join(capture.home, "capture", record.run_id)
    os.makedirs(capture_dir, mode=0o700)
    strace = find_strace(section)
    native = interposer() if preload_library(section) or preloaded_path() else None
    saved = {k: os.environ.get(k) for k in (*_hooks.CAPTURE_ENV, "PYTHONPATH", "LD_PRELOAD")}
    os.environ.update(child_environment(
        {k: os.environ[k] for k in ("PYTHONPATH", "LD_PRELOAD") if os.environ.get(k)},
        capture_dir, strace, preloaded_path() if native is not None else ""))
    log_path = os.environ[_hooks.ENV_LOG]
    rules = IgnoreRules.build(cwd=record.cwd, home=capture.home, argv=[],
                              ignore=section.get("ignore", ()), keep=section.get("keep", ()))
    hashes = Hashes(str(section.get("algorithm", "blake3")))
    if native is not None:
        record.capture_mode = "preload"
        recorder = _hooks.install(log_path, files=False, hook=False)
        native.tracline_capture_start()
    else:
        found = mechanism(in_process=True, strace=strace, section=section)
        record.capture_mode = f"audit-hook; {found.missing}"
        recorder = _hooks.install(log_path)
        _spawn.install(recorder, strace, capture_dir)
    recorder.hello()
    capture.open_emitter()
    capture.environ = dict(os.environ)
    capture.start_event()
    watcher = Watcher(capture_dir, log_path, record.cwd, rules, hashes)
    if native is not None:
        watcher.on_thread_start = lambda: native.tracline_capture_quiet(1)
    watcher.start()
    from tracline.gpu.sampler import GpuSampler

    sampler = GpuSampler(os.getpid()).start()
    started = time.monotonic()
    failed: BaseException | None = None
    try:
        yield result
    except BaseException as e:
        failed = e
        raise
    finally:
        recorder.active = False
        if native is not None:
            native.tracline_capture_stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        try:
            own = imported_since(imported_before)
            if function is not None:
                own.update(referenced_modules(function))
            _finish(capture=capture, record=record, watcher=watcher, sampler=sampler,
                    hashes=hashes, rules=rules, started=started, failed=failed, gpus=gpus,
                    gpu_model=gpu_model, capture_dir=capture_dir, modules=own)
        finally:
            shutil.rmtree(capture_dir, ignore_errors=True)


def _finish(*, capture: _Capture, record: RunRecord, watcher: Watcher, sampler: object,
            hashes: Hashes, rules: IgnoreRules, started: float,
            failed: BaseException | None, gpus: int | None, gpu_model: str | None,
            capture_dir: str, modules: dict[str, str]) -> None:
    from tracline.capture import _process
    from tracline.gpu.cost import gpu_cost

    record.wall_seconds = round(time.monotonic() - started, 3)
    record.ended_at = utcnow()
    record.exit_code = 0 if failed is None else 1
    _process.wait_tracers(capture_dir, 10.0)
    observed = watcher.stop()
    if watcher.failure:
        record.warnings.append(watcher.failure)
    usage = sampler.stop()  # type: ignore[attr-defined]
    capture._files(observed, rules, hashes)
    me = PythonProcess(os.getpid(), sys.executable, sys.implementation.name,
                       ".".join(map(str, sys.version_info[:3])), sys.prefix, sys.base_prefix,
                       [p for p in sys.path if p])
    modules = {**modules, **observed.modules}
    record.interpreter = interpreter_info(me)
    record.packages = packages_for(modules, [me, *observed.pythons],
                                   Path(capture.home) / "cache")
    if record.packages:
        import blake3

        lock = "\n".join(f"{n}=={v}" for n, v in record.packages).encode()
        record.package_digest = "blake3:" + blake3.blake3(lock).hexdigest()
    where = os.path.dirname(record.callable["file"]) if record.callable and \
        record.callable.get("file") else record.cwd
    record.code = git_info(where, capture.home)
    record.gpu = gpu_cost(usage, wall_seconds=record.wall_seconds, declared_gpus=gpus,
                          declared_model=gpu_model, config=capture.config)
    if failed is not None:
        record.warnings.append(f"task raised {type(failed).__name__}: {failed}")
    capture.emit_record("COMPLETE" if failed is None else "FAIL")
