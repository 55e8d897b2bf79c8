"""``capture_command``: run a command, observe what it reads and writes, record the run.

Files are observed by capture's interposer (``_preload.c``, preloaded into the command and so
into every dynamically linked process of its tree; a static program runs under strace). Where
the interposer is not built, a Python program is observed by audit hooks (its non-Python
children run under strace) and any other program runs under strace.

The command starts as early as possible: before it, only the configuration is read, the
program resolved and git's state taken (the code as it was when the run began); everything
else — the run's record, its START event, the log readers, the GPU sampler and the libraries
they need — is set up while the command already runs, on another core. So this module
imports nothing heavy at the top. START (dated when the command started) and then COMPLETE or
FAIL, with the content-hashed inputs and outputs, the recipe and the GPU cost, go to the
outbox. Lineage never changes what the command does: its stdio, exit status and signals are
its own, and a capture failure after it started is a warning.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence

from tracline.capture import _process
from tracline.capture._jobs import check_template, job_name
from tracline.capture._mechanism import preload_library
from tracline.capture._names import iso_time, new_run_id, utcnow
from tracline.capture._spawn import is_python, strace_prefix, which
from tracline.config import Config, get_config
from tracline.errors import ValidationError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess
    from typing import Any

    from tracline.capture._classify import IgnoreRules
    from tracline.capture._watch import Hashes
    from tracline.record import RunRecord

__all__ = ["BOOT_DIR", "CAPTURE_MODES", "capture_command", "child_environment", "find_strace"]

BOOT_DIR = os.path.join(os.path.dirname(__file__), "_boot")
#: How files are observed: ``auto`` picks the interposer where it is built.
CAPTURE_MODES = ("auto", "preload", "audit", "strace")


def find_strace(section: Mapping[str, Any]) -> str:
    """strace's path ('' when absent or turned off by ``[capture] strace = false``)."""
    setting = section.get("strace", True)
    if setting is False or str(setting).lower() in {"false", "0", "off", "no"}:
        return ""
    if isinstance(setting, str) and setting not in {"true", "1", "on", "yes"}:
        return setting if os.access(setting, os.X_OK) else ""
    return which("strace") or ""


def child_environment(environ: Mapping[str, str], capture_dir: str, strace: str,
                      preload: str = "") -> dict[str, str]:
    """``environ`` plus what a child needs to report to this capture (``preload``: the
    interposer to preload, if files are observed by it)."""
    env = dict(environ)
    env.pop("TRACLINE_CAPTURE_TRACED", None)
    env.pop("TRACLINE_CAPTURE_PRELOAD", None)
    current = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = BOOT_DIR + (os.pathsep + current if current else "")
    env["TRACLINE_CAPTURE_LOG"] = os.path.join(capture_dir, "hooks.log")
    env["TRACLINE_CAPTURE_DIR"] = capture_dir
    env["TRACLINE_CAPTURE_STRACE"] = strace
    env["TRACLINE_CAPTURE_BOOT"] = BOOT_DIR
    if preload:
        env["TRACLINE_CAPTURE_PRELOAD"] = preload
        others = [p for p in env.get("LD_PRELOAD", "").split(":") if p and p != preload]
        env["LD_PRELOAD"] = ":".join([preload, *others])
    return env


def _mode(python: bool, mode: str, strace: str, preload: str) -> tuple[bool, str, str | None]:
    """(trace the whole tree with strace, captureMode, warning)."""
    if mode not in CAPTURE_MODES:
        raise ValidationError("capture", f"unknown capture mode {mode!r}",
                              hint=f"use {', '.join(CAPTURE_MODES)}")
    if mode == "preload" and not preload:
        raise ValidationError("capture", "capture's interposer is not built (no C compiler "
                              "when tracline was installed)", hint="use --capture auto")
    if mode in {"auto", "preload"} and preload:
        return False, "preload", None
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
    subreaper: bool = False,
) -> RunRecord:
    """Run ``argv`` under observation and record it; returns what was observed.

    ``time_limit``: seconds after which the command's whole process tree is stopped (its
    cost is recorded up to then). ``subreaper``: this process adopts the command's orphaned
    descendants (``tracline run`` does; see :mod:`._tree`), so that a daemon that
    double-forked away is still found, stopped at the limit and reported.

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
    launch = _Launch(list(argv), program, workdir, environ, config,
                     run_id=run_id or new_run_id(), job=job, namespace=namespace)
    if subreaper and not config.disabled:
        from tracline.capture._tree import become_subreaper

        launch.subreaper = become_subreaper()
    if config.disabled:
        started = time.monotonic()
        code = _run_plain(argv, environ, workdir)
        record = launch.record("disabled")
        record.exit_code, record.wall_seconds = code, time.monotonic() - started
        return record
    forwarded = _process.Forwarded()
    try:
        # From before the command starts: a signal sent to tracline meanwhile reaches it too.
        with _process.forward_signals(forwarded):
            try:
                forwarded.started(launch.start(mode))
            except OSError as e:  # not even a temporary folder: the command runs unobserved
                started = time.monotonic()
                code = _run_plain(argv, environ, workdir)
                record = launch.record("unobserved")
                record.exit_code, record.wall_seconds = code, time.monotonic() - started
                record.warnings.append(f"lineage of this run is not recorded: {e}")
                return record
            return _Capture.following(launch, emit=emit).run(
                gpus=gpus, gpu_model=gpu_model, start_facets=start_facets,
                time_limit=time_limit)
    finally:
        if launch.capture_dir_made:
            import shutil

            shutil.rmtree(launch.capture_dir, ignore_errors=True)


#: The digest algorithms of :mod:`tracline.hashing` (held equal by a test: that module is
#: slow to import, and the setting is checked before the command starts).
ALGORITHMS = ("blake3", "sha256")


def _check_section(section: Mapping[str, Any], config: Config) -> None:
    """Refuse a ``[capture]`` setting that would only fail once the command runs."""
    from tracline.errors import ConfigError

    def where(key: str) -> str:
        return str(config.source or f"the environment (TRACLINE__CAPTURE__{key.upper()})")

    algorithm = section.get("algorithm", "blake3")
    if algorithm not in ALGORITHMS:
        raise ConfigError(f"[capture] algorithm = {algorithm!r} in {where('algorithm')} is "
                          "not a digest algorithm", hint=f"use one of {', '.join(ALGORITHMS)}")
    schemas = section.get("schemas", True)
    if str(schemas).strip().lower() not in _SWITCHES:
        raise ConfigError(f"[capture] schemas = {schemas!r} in {where('schemas')} is not "
                          "true or false", hint="write schemas = true (read the columns of "
                          "tabular files) or schemas = false")
    limit = section.get("schema_files", 200)
    if isinstance(limit, bool) or not str(limit).strip().isdigit():
        raise ConfigError(f"[capture] schema_files = {limit!r} in {where('schema_files')} is "
                          "not a whole number of files", hint="write e.g. schema_files = 200 "
                          "(0 reads no table's columns)")
    check_template(config.section("jobs"))


#: The values a ``[capture]`` on/off setting may take (TOML booleans, or text from the
#: environment).
_SWITCHES = frozenset({"true", "false", "1", "0", "yes", "no", "on", "off"})


class _Launch:
    """Everything that happens before the command starts, and the started command."""

    def __init__(self, argv: list[str], program: str, cwd: str, environ: dict[str, str],
                 config: Config, *, run_id: str, job: str | None,
                 namespace: str | None) -> None:
        self.argv, self.program, self.cwd, self.environ = argv, program, cwd, environ
        self.config = config
        self.section = config.section("capture")
        self.home = os.path.realpath(config.home_dir)
        self.run_id, self.job, self.namespace = run_id, job, namespace
        self.started_ns = time.time_ns()
        self.capture_dir = os.path.join(self.home, "capture", run_id)
        self.capture_mode = "disabled"
        self.capture_dir_made = False
        self.warning: str | None = None
        self.strace = ""
        self.traced = False
        self.env: dict[str, str] = {}
        self.git_state: dict[str, object] | None = None
        self.child: _process.Child | subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self.subreaper = False
        #: Why tracline's state folder could not be used, if it could not.
        self.unwritable: str | None = None

    def record(self, capture_mode: str) -> RunRecord:
        """The run's record so far (imports attrs: called once the command runs)."""
        from tracline.capture._redact import redact_argv
        from tracline.record import RunRecord

        return RunRecord(
            run_id=self.run_id, job=self.job or job_name(
                self.argv, self.cwd, jobs=self.config.section("jobs"),
                config_file=str(self.config.source) if self.config.source else None),
            namespace=self.namespace or self.config.namespace, argv=redact_argv(self.argv),
            cwd=self.cwd, started_at=iso_time(self.started_ns), capture_mode=capture_mode,
            producer=self.config.producer,
        )

    def start(self, mode: str) -> _process.Child | subprocess.Popen[bytes]:
        """Take git's state, prepare the capture folder and start the command under it."""
        from tracline.capture._git import ask_git, git_answer

        _check_section(self.section, self.config)
        # git answers while the capture is prepared; the command starts once it has, so
        # that a run which edits tracked files does not see its own edits as the code.
        asked = ask_git(self.cwd)
        strace = find_strace(self.section)
        preload = preload_library(self.section)
        self.traced, self.capture_mode, self.warning = _mode(
            is_python(self.program, self.argv), mode, strace, preload)
        self.strace = strace
        try:
            os.makedirs(self.capture_dir, mode=0o700)
        except OSError as e:
            # No state folder (read-only, full, not a folder): the capture log goes to a
            # private temporary folder, and the outbox says whether the run can be recorded.
            import tempfile

            self.unwritable = f"cannot create {self.capture_dir}: {e.strerror}"
            self.capture_dir = tempfile.mkdtemp(prefix="tracline-capture-")
        self.capture_dir_made = True
        self.env = child_environment(self.environ, self.capture_dir, strace,
                                     preload if self.capture_mode == "preload" else "")
        command = [self.program, *self.argv[1:]] if self.traced else self.argv
        if self.traced:
            command = strace_prefix(strace, os.path.join(self.capture_dir, "strace.0")) + command
        self.git_state = git_answer(asked, self.home)
        self.started = time.monotonic()
        self.started_ns = time.time_ns()
        self.child = _process.start(command, self.env, self.cwd,
                                    program=command[0] if self.traced else self.program)
        return self.child


class _Capture:
    """One observed run, from START to COMPLETE/FAIL."""

    def __init__(self, record: RunRecord, argv: Sequence[str], program: str,
                 environ: dict[str, str], config: Config, *, emit: bool) -> None:
        self.record, self.argv, self.program = record, list(argv), program
        self.environ, self.config = environ, config
        self.section = config.section("capture")
        self.home = os.path.realpath(config.home_dir)
        self.emit_events = emit
        self.emitter: Any = None
        self.launch: _Launch | None = None
        #: Why the run's lineage is not recorded (the one warning then given), if it is not.
        self.unrecorded: str | None = None

    @classmethod
    def following(cls, launch: _Launch, *, emit: bool) -> _Capture:
        """The capture of a command that ``launch`` started."""
        capture = cls(launch.record(launch.capture_mode), launch.argv, launch.program,
                      launch.environ, launch.config, emit=emit)
        capture.launch = launch
        return capture

    def open_emitter(self) -> None:
        """Open the outbox; if it cannot be, the run goes on unrecorded (with a warning)."""
        if not self.emit_events:
            return
        from tracline.delivery import Emitter

        try:
            # Delivery (inline, or the long-lived deliverer each commit pokes) checkpoints;
            # `deliver = "none"` leaves it to the next tracline command that delivers.
            how = str(self.section.get("deliver", "background"))
            emitter = Emitter(self.config, background=how == "background",
                              checkpoint=how == "inline")
            emitter.outbox()
        except Exception as e:  # noqa: BLE001 - any state problem: the command still runs
            self.unrecorded = f"lineage of this run is not recorded: {e}"
        else:
            self.emitter = emitter

    def emit_record(self, state: str) -> None:
        """Commit the record as it is now, for its ``state`` event (built at delivery); if it
        cannot be (a full disk, a damaged outbox), the run goes on unrecorded."""
        if self.emitter is None:
            return
        try:
            self.emitter.commit_record(state, self.record)
        except Exception as e:  # noqa: BLE001 - lineage never breaks the command
            self.emitter = None
            self.unrecorded = f"lineage of this run is not recorded: {e}"

    def start_event(self, start_facets: Mapping[str, dict[str, Any]] | None = None) -> None:
        """Record START: the environment, host and code the run started with."""
        from tracline.capture._recipe import host_info
        from tracline.capture._redact import redact_env

        record = self.record
        record.environment = redact_env(self.environ, self.section.get("env", ()))
        record.host = host_info()
        record.start_facets = dict(start_facets or {})
        self.emit_record("START")

    def run(self, *, gpus: int | None, gpu_model: str | None,
            start_facets: Mapping[str, dict[str, Any]] | None,
            time_limit: float | None) -> RunRecord:
        launch = self.launch
        assert launch is not None and launch.child is not None
        record, child = self.record, launch.child
        # Everything else is set up while the command already runs (on another core).
        observer: _Observer | None = None
        try:
            from tracline.capture._recipe import code_info

            if launch.warning:
                record.warnings.append(launch.warning)
            record.code = code_info(launch.git_state)
            observer = _Observer(self, launch.capture_dir, launch.env, child.pid,
                                 traced=launch.traced)
            self.open_emitter()
            self.start_event(start_facets)
        except Exception as e:  # noqa: BLE001 - lineage never breaks the command
            if self.emitter is not None and self.unrecorded is None:
                self.emitter = None  # START could not be committed
                self.unrecorded = f"lineage of this run is not recorded: {e}"
            else:
                record.warnings.append(f"capture failed: {type(e).__name__}: {e}")
        left = None if time_limit is None else \
            max(0.0, time_limit - (time.monotonic() - launch.started))
        tree = _Tree(launch, child.pid)
        returncode, stopped = _process.wait_child(child, left, stop=tree.stop)
        record.wall_seconds = round(time.monotonic() - launch.started, 3)
        record.ended_at = utcnow()
        record.exit_code, record.signal = _process.exit_status(returncode)
        if stopped:
            record.warnings.append(f"stopped at the time limit of {time_limit:g} s: the whole "
                                   f"process tree ({len(tree.stopped)} process(es))")
        daemons = tree.outliving()
        for pid in daemons:
            from tracline.capture._redact import redact_text
            from tracline.capture._tree import describe

            record.warnings.append(f"left running after the command ended (not waited for): "
                                   f"{redact_text(describe(pid))} (pid {pid})")
        if daemons:
            _process.end_tracers(launch.capture_dir)  # strace lets go of them now
        elif launch.strace and not _process.wait_tracers(launch.capture_dir, 10.0):
            record.warnings.append("strace did not finish in time; some files may be missing")
        if launch.subreaper:
            from tracline.capture._tree import reap

            reap()
        if observer is not None:
            try:
                observer.finish(gpus=gpus, gpu_model=gpu_model)
            except Exception as e:  # noqa: BLE001
                record.warnings.append(f"capture failed: {type(e).__name__}: {e}")
        self.emit_record("COMPLETE" if record.exit_code == 0 else "FAIL")
        if self.unrecorded is not None:
            # One warning: the others (hashing, caches) are about lineage that is lost anyway.
            record.warnings = [self.unrecorded, *(w for w in record.warnings
                                                  if w.startswith(_ABOUT_THE_COMMAND))]
        self._deliver()
        return record

    def _files(self, observed: Any, rules: IgnoreRules, hashes: Hashes) -> None:
        from tracline.capture._classify import classify

        classified = classify(observed, rules)
        # Most files were hashed while the run went on and are unchanged since: one batch of
        # stats confirms them; the others are looked at (and hashed) one by one.
        confirmed = hashes.confirmed([*classified.inputs, *classified.outputs])
        left = [p for p in (*classified.inputs, *classified.outputs) if p not in confirmed]
        with self._progress(left) as progress:
            self._hash_left(classified, confirmed, hashes, progress)
        hashes.save()
        self._schemas()

    def _progress(self, paths: list[str]) -> Any:
        """A bar for the hashing left at the end, should it take a while (on a terminal)."""
        from tracline.capture._progress import EndProgress

        total = 0
        for path in paths:
            try:
                total += os.stat(path).st_size
            except OSError:
                continue
        try:
            after = float(self.section.get("progress_after", 1.0))
        except (TypeError, ValueError):
            after = 1.0
        return EndProgress(total, len(paths), after=after)

    def _hash_left(self, classified: Any, confirmed: set[str], hashes: Hashes,
                   progress: Any) -> None:
        record, taken = self.record, hashes.taken
        for path in classified.inputs:
            if path in confirmed:
                record.inputs.append(taken[path][1])
                continue
            early = taken.get(path)
            progress.current = path
            item = hashes.final(path, modified=path in classified.modified,
                                advance=progress.advance)
            if item is None:
                continue
            record.inputs.append(item)
            if item.error:
                record.warnings.append(f"input not hashed: {item.error}")
            elif not item.modified and (path in hashes.moving or (
                    early is not None and item.digest != early[1].digest)):
                record.warnings.append(
                    f"input {path} changed while the run went on (not by the run): recorded "
                    "as it was at the end; the run may have read an earlier version")
        for path in classified.outputs:
            progress.current = path
            item = taken[path][1] if path in confirmed else \
                hashes.final(path, written=True, advance=progress.advance)
            if item is not None:
                record.outputs.append(item)
                if item.error:
                    record.warnings.append(f"output not hashed: {item.error}")

    def _schemas(self) -> None:
        """The columns of the tabular files the run read and wrote (the ``schema`` facet);
        ``[capture] schemas = false`` turns this off, and at most ``schema_files`` (200) files
        per run are read, each only a bounded prefix."""
        if str(self.section.get("schemas", True)).strip().lower() in {"false", "0", "no", "off"}:
            return
        from tracline.tabular import schemas_of

        files = [f for f in (*self.record.inputs, *self.record.outputs) if f.digest]
        limit = int(str(self.section.get("schema_files", 200)).strip())
        found = schemas_of([f.path for f in files], limit)
        for item in files:
            if item.path in found:
                item.schema = found[item.path]

    def _deliver(self) -> None:
        """``deliver = "inline"``: deliver here, within ``[outbox] flush_timeout``, and hand
        what is left to the long-lived deliverer. (``"background"``: each commit already
        told it; ``"none"``: a later ``tracline outbox flush`` delivers.)"""
        how = str(self.section.get("deliver", "background"))
        if self.emitter is None or how != "inline":
            return
        from tracline.errors import TraclineError

        try:
            report = self.emitter.flush(self.config.flush_timeout)
            if not report.complete:
                self.emitter.hand_off()
        except TraclineError as e:
            self.record.warnings.append(f"events stay in the outbox: {e}")


#: Warnings about the command itself (kept when its lineage cannot be recorded).
_ABOUT_THE_COMMAND = ("stopped at the time limit", "left running after the command ended")


class _Tree:
    """The command's process tree: all processes below this one when it is their subreaper,
    else those below the command (tracers never counted)."""

    def __init__(self, launch: _Launch, pid: int) -> None:
        self.capture_dir = launch.capture_dir
        self.root, self.include_root = (os.getpid(), False) if launch.subreaper else (pid, True)
        self.pid = pid
        self.stopped: list[int] = []

    def _tracer(self, pid: int) -> bool:
        return pid in self._tracers

    def stop(self) -> None:
        from tracline.capture._tree import stop_tree

        self._tracers = set(_process.tracers(self.capture_dir))
        self.stopped = stop_tree(self.root, include_root=self.include_root, spare=self._tracer)

    def outliving(self) -> list[int]:
        from tracline.capture._tree import outliving

        self._tracers = set(_process.tracers(self.capture_dir))
        return outliving(self.root, ended=(self.pid,), spare=self._tracer)


def _sites_of(process: Any, cache: Any) -> None:
    from tracline.capture._recipe import site_distributions

    for folder in process.path:
        if "-packages" in folder:
            site_distributions(folder, cache)


class _Observer:
    """The observing side of a running command: log readers, early hashing, git, GPU."""

    def __init__(self, capture: _Capture, capture_dir: str, env: Mapping[str, str],
                 pid: int, *, traced: bool) -> None:
        from pathlib import Path

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
                               self.rules, self.hashes, traced=traced)
        # Each Python's site folders are read while the run goes on (for packages_for).
        cache = Path(capture.home) / "cache"
        self.watcher.on_python = lambda process: _sites_of(process, cache)
        self.watcher.start()
        self.sampler = GpuSampler(pid).start()
        # What the end needs is loaded now: the run's end is on the user's clock, this is not.
        import shutil  # noqa: F401 - capture_command's clean-up

        import tracline.gpu.cost  # noqa: F401

    def finish(self, *, gpus: int | None, gpu_model: str | None) -> None:
        """Fold in everything observed: files with digests, recipe, GPU cost."""
        from pathlib import Path

        from tracline.capture._recipe import interpreter_info, packages_for
        from tracline.gpu.cost import gpu_cost

        capture = self.capture
        record = capture.record
        observed = self.watcher.stop()
        if self.watcher.failure:
            record.warnings.append(self.watcher.failure)
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

