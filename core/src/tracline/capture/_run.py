"""``capture_command``: run a command, observe what it reads and writes, record the run.

The cheapest correct observation is chosen per command: a Python program is observed by
audit hooks (its non-Python children alone run under strace); any other program runs under
strace, whose ``-f`` follows its whole process tree. A START event is committed to the outbox
before the command starts; COMPLETE or FAIL follows with the content-hashed inputs and
outputs, the recipe and the GPU cost. Lineage never changes what the command does: its
stdio, exit status and signals are its own, and a capture failure is a warning.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracline.capture import _process
from tracline.capture._record import (
    RunRecord,
    default_job,
    event_dict,
    event_json,
    new_run_id,
    utcnow,
)
from tracline.capture._redact import redact_argv, redact_env
from tracline.capture._spawn import is_python, strace_prefix, which
from tracline.config import Config, get_config
from tracline.errors import ValidationError

if TYPE_CHECKING:
    from tracline.capture._classify import IgnoreRules
    from tracline.capture._watch import Hashes

__all__ = ["BOOT_DIR", "capture_command", "child_environment", "find_strace"]

log = logging.getLogger("tracline.capture")

BOOT_DIR = str(Path(__file__).parent / "_boot")
_warned: set[str] = set()


def find_strace(section: Mapping[str, Any]) -> str:
    """strace's path ('' when absent or turned off by ``[capture] strace = false``)."""
    setting = section.get("strace", True)
    if setting is False or str(setting).lower() in {"false", "0", "off", "no"}:
        return ""
    if isinstance(setting, str) and setting not in {"true", "1", "on", "yes"}:
        return setting if os.access(setting, os.X_OK) else ""
    return shutil.which("strace") or ""


def child_environment(environ: Mapping[str, str], capture_dir: str, strace: str) -> dict[str, str]:
    """``environ`` plus what a child needs to report to this capture."""
    env = dict(environ)
    env.pop("TRACLINE_CAPTURE_TRACED", None)
    current = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = BOOT_DIR + (os.pathsep + current if current else "")
    env["TRACLINE_CAPTURE_LOG"] = os.path.join(capture_dir, "hooks.log")
    env["TRACLINE_CAPTURE_DIR"] = capture_dir
    env["TRACLINE_CAPTURE_STRACE"] = strace
    env["TRACLINE_CAPTURE_BOOT"] = BOOT_DIR
    return env


#: The detached delivery: `tracline outbox flush` at idle CPU priority, so that it never
#: competes with the user's next command (events are safe in the outbox meanwhile).
_DELIVER = (
    "import os, sys\n"
    "try:\n    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))\n"
    "except (AttributeError, OSError):\n    os.nice(19)\n"
    "from tracline.cli import main\nsys.exit(main(sys.argv[1:]))\n"
)


def _delivery_env(config: Config) -> dict[str, str]:
    """The environment of a detached delivery: this configuration, whatever its cwd."""
    env = dict(os.environ)
    env["TRACLINE_HOME"] = str(config.home.resolve())
    env["TRACLINE_OUTBOX"] = str(config.outbox_path.resolve())
    env["TRACLINE_REGISTRY_URL"] = config.registry_url
    if config.source is not None:
        env["TRACLINE_CONFIG"] = str(config.source)
    return env


def _mode(python: bool, mode: str, strace: str) -> tuple[bool, str, str | None]:
    """(trace the whole tree with strace, captureMode, warning)."""
    if mode not in {"auto", "audit", "strace"}:
        raise ValidationError("capture", f"unknown capture mode {mode!r}",
                              hint="use auto, audit or strace")
    missing = "strace is not installed (Debian: apt-get install strace)"
    if mode == "strace" or (mode == "auto" and not python):
        if strace:
            return True, "strace", None
        if mode == "strace":
            raise ValidationError("capture", missing, hint="install it, or use --capture auto")
        return False, "audit-hook; files of non-Python processes not observed: strace missing", \
            f"{missing}: files opened by non-Python programs are not recorded"
    if strace:
        return False, "audit-hook+strace-children", None
    return False, "audit-hook; files of non-Python children not observed: strace missing", \
        f"{missing}: files opened by non-Python child processes are not recorded"


def _run_plain(argv: Sequence[str], env: Mapping[str, str], cwd: str) -> int:
    child = _process.start(argv, env, cwd)
    with _process.forward_signals(child):
        return _process.exit_status(child.wait())[0]


def capture_command(
    argv: Sequence[str],
    job: str | None = None,
    *,
    namespace: str | None = None,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    gpus: int | None = None,
    gpu_model: str | None = None,
    mode: str = "auto",
    config: Config | None = None,
    emit: bool = True,
    start_facets: Mapping[str, dict[str, Any]] | None = None,
    time_limit: float | None = None,
    run_id: str | None = None,
) -> RunRecord:
    """Run ``argv`` under observation and record it; returns what was observed.

    Raises :class:`CommandNotFound` before anything runs when the program does not exist;
    otherwise the command's own outcome is in ``RunRecord.exit_code`` / ``.signal``.
    """
    if not argv:
        raise ValidationError("command", "no command given",
                              hint="put the command after --, e.g. tracline run -- python train.py")
    config = config or get_config()
    workdir = os.path.abspath(os.fspath(cwd) if cwd is not None else os.getcwd())
    environ = dict(os.environ if env is None else env)
    program = which(argv[0], environ, workdir)
    if program is None:
        raise _process.not_found(argv[0])
    if not os.access(program, os.X_OK):
        raise _process.not_executable(argv[0])
    record = RunRecord(
        run_id=run_id or new_run_id(), job=job or default_job(list(argv), workdir),
        namespace=namespace or config.namespace, argv=redact_argv(argv), cwd=workdir,
        started_at=utcnow(), capture_mode="disabled",
    )
    if config.disabled:
        started = time.monotonic()
        code = _run_plain(argv, environ, workdir)
        record.exit_code, record.wall_seconds = code, time.monotonic() - started
        return record
    return _Capture(record, argv, program, environ, config, emit=emit).run(
        mode=mode, gpus=gpus, gpu_model=gpu_model, start_facets=start_facets,
        time_limit=time_limit,
    )


class _Capture:
    """One observed run, from START to COMPLETE/FAIL."""

    def __init__(self, record: RunRecord, argv: Sequence[str], program: str,
                 environ: dict[str, str], config: Config, *, emit: bool) -> None:
        self.record, self.argv, self.program = record, list(argv), program
        self.environ, self.config = environ, config
        self.section = config.section("capture")
        self.home = str(config.home.resolve())
        self.code: dict[str, Any] = {}
        self.git = threading.Thread(target=lambda: None)
        self.emitter = None
        if emit:
            from tracline.emit import Emitter

            self.emitter = Emitter(config, background=False)

    def _emit(self, event: Any) -> None:
        if self.emitter is not None:
            self.emitter.emit(event)

    def run(self, *, mode: str, gpus: int | None, gpu_model: str | None,
            start_facets: Mapping[str, dict[str, Any]] | None,
            time_limit: float | None) -> RunRecord:
        from tracline.capture._recipe import git_info

        record = self.record
        # The code as it is before the command runs (git works while tracline sets up).
        self.git = threading.Thread(
            target=lambda: self.code.update(info=git_info(record.cwd, self.home)), daemon=True)
        self.git.start()
        strace = find_strace(self.section)
        traced, record.capture_mode, warning = _mode(
            is_python(self.program, self.argv), mode, strace)
        if warning:
            record.warnings.append(warning)
        capture_dir = os.path.join(self.home, "capture", record.run_id)
        os.makedirs(capture_dir, mode=0o700)
        try:
            return self._observe(capture_dir, strace if traced else "", strace, gpus=gpus,
                                 gpu_model=gpu_model, start_facets=start_facets,
                                 time_limit=time_limit)
        finally:
            shutil.rmtree(capture_dir, ignore_errors=True)

    def _observe(self, capture_dir: str, top_strace: str, strace: str, *, gpus: int | None,
                 gpu_model: str | None, start_facets: Mapping[str, dict[str, Any]] | None,
                 time_limit: float | None) -> RunRecord:
        from tracline.capture._recipe import host_info

        record, section = self.record, self.section
        env = child_environment(self.environ, capture_dir, strace)
        command = [self.program, *self.argv[1:]] if top_strace else self.argv
        if top_strace:
            command = strace_prefix(top_strace, os.path.join(capture_dir, "strace.0")) + command
        record.environment = redact_env(self.environ, section.get("env", ()))
        record.host = host_info()
        self._emit(event_dict("START", record, event_time=record.started_at, with_files=False,
                              run_facets={**record.facet_dicts(), **(start_facets or {})}))
        self.git.join()
        record.code = self.code.get("info")
        started = time.monotonic()
        child = _process.start(command, env, record.cwd)
        with _process.forward_signals(child):
            # Everything else is set up while the command already runs (on another core).
            try:
                observer: _Observer | None = _Observer(self, capture_dir, env, child.pid)
            except Exception as e:  # noqa: BLE001 - lineage never breaks the command
                observer = None
                record.warnings.append(f"capture failed: {type(e).__name__}: {e}")
            returncode, stopped = _process.wait_child(child, time_limit)
        record.wall_seconds = round(time.monotonic() - started, 3)
        record.ended_at = utcnow()
        record.exit_code, record.signal = _process.exit_status(returncode)
        if stopped:
            record.warnings.append(f"stopped at the time limit of {time_limit:.0f} s")
        if (top_strace or strace) and not _process.wait_tracers(capture_dir, 10.0):
            record.warnings.append("strace did not finish in time; some files may be missing")
        if observer is not None:
            try:
                observer.finish(gpus=gpus, gpu_model=gpu_model)
            except Exception as e:  # noqa: BLE001
                record.warnings.append(f"capture failed: {type(e).__name__}: {e}")
        state = "COMPLETE" if record.exit_code == 0 else "FAIL"
        if self.emitter is not None:
            from tracline.emit.emitter import Serialized

            self._emit(Serialized(*event_json(state, record, event_time=record.ended_at,
                                              run_facets=record.facet_dicts())))
        self._deliver()
        return record

    def _files(self, observed: Any, rules: IgnoreRules, hashes: Hashes) -> None:
        from tracline.capture._classify import classify

        record = self.record
        classified = classify(observed, rules)
        for path in classified.inputs:
            item = hashes.final(path, modified=path in classified.modified)
            if item is None:
                continue
            record.inputs.append(item)
            if item.error:
                record.warnings.append(f"input not hashed: {item.error}")
        for path in classified.outputs:
            item = hashes.final(path, written=True)
            if item is not None:
                record.outputs.append(item)
                if item.error:
                    record.warnings.append(f"output not hashed: {item.error}")
        hashes.save()

    def _deliver(self) -> None:
        """Hand delivery to a detached ``tracline outbox flush`` (or deliver here, or not)."""
        how = str(self.section.get("deliver", "background"))
        if self.emitter is None or how == "none":
            return
        if how == "inline":
            self.emitter.flush(self.config.flush_timeout)
            return
        argv = [sys.executable, "-c", _DELIVER, "outbox", "flush", "--timeout", "120"]
        null = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDWR, 0) for fd in (0, 1, 2)]
        try:
            os.posix_spawn(sys.executable, argv, _delivery_env(self.config), file_actions=null,
                           setsid=True)
        except OSError as e:
            log.warning("tracline: events stay in the outbox (%s); run `tracline outbox flush`", e)


class _Observer:
    """The observing side of a running command: log readers, early hashing, git, GPU."""

    def __init__(self, capture: _Capture, capture_dir: str, env: Mapping[str, str],
                 pid: int) -> None:
        from tracline.capture._classify import IgnoreRules
        from tracline.capture._watch import Hashes, Watcher
        from tracline.gpu.sampler import GpuSampler

        record, section = capture.record, capture.section
        self.capture, self.pid = capture, pid
        self.rules = IgnoreRules.build(cwd=record.cwd, home=capture.home, argv=capture.argv,
                                       ignore=section.get("ignore", ()),
                                       keep=section.get("keep", ()))
        self.hashes = Hashes(str(section.get("algorithm", "blake3")))
        self.watcher = Watcher(capture_dir, env["TRACLINE_CAPTURE_LOG"], record.cwd,
                               self.rules, self.hashes).start()
        self.sampler = GpuSampler(pid).start()

    def finish(self, *, gpus: int | None, gpu_model: str | None) -> None:
        """Fold in everything observed: files with digests, recipe, GPU cost."""
        from tracline.capture._recipe import interpreter_info, packages_for
        from tracline.gpu.cost import gpu_cost

        capture = self.capture
        record = capture.record
        observed = self.watcher.stop()
        usage = self.sampler.stop()
        capture._files(observed, self.rules, self.hashes)
        for program in observed.untraced:
            record.warnings.append(f"not observed (no strace): {program}")
        top = next((p for p in observed.pythons if p.pid == self.pid), None)
        record.interpreter = interpreter_info(top or next(iter(observed.pythons), None))
        record.packages = packages_for(observed.modules, observed.pythons,
                                       Path(capture.home) / "cache")
        if record.packages:
            import blake3

            lock = "\n".join(f"{n}=={v}" for n, v in record.packages).encode()
            record.package_digest = "blake3:" + blake3.blake3(lock).hexdigest()
        record.gpu = gpu_cost(usage, wall_seconds=record.wall_seconds or 0.0,
                              declared_gpus=gpus, declared_model=gpu_model,
                              config=capture.config)

