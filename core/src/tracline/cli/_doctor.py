"""`tracline doctor`: is this machine set up to capture, store and deliver lineage?

One line per part — configuration, outbox, each sink, the request store, capture (audit
hook, strace, git), the stat cache, GPUs and their prices — each ok, warn (works, with
less) or fail (does not work), with what to do. Exit code 1 when something fails, so that
a deployment can run it as a check.
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import click

from tracline.cli._app import app
from tracline.cli._output import fields, json_option, line, print_json, show
from tracline.config import Config, load_config
from tracline.db import display_url
from tracline.errors import TraclineError


@attrs.frozen
class Check:
    """One line of `tracline doctor`: a part's ``status`` (ok, warn: works with less, or
    fail: does not work), what was found, and what to do about it. Integrations contribute
    theirs through the ``tracline.doctor`` entry point group."""

    name: str
    status: str
    detail: str
    hint: str | None = None


def _ok(name: str, detail: str) -> Check:
    return Check(name, "ok", detail)


def _warn(name: str, detail: str, hint: str | None = None) -> Check:
    return Check(name, "warn", detail, hint)


def _fail(name: str, detail: str, hint: str | None = None) -> Check:
    return Check(name, "fail", detail, hint)


def _guarded(name: str, check: Callable[[], Check | list[Check]]) -> list[Check]:
    """Run one check; an unexpected error is that check failing, not the doctor."""
    try:
        result = check()
    except TraclineError as e:
        return [_fail(name, e.message, e.hint)]
    except Exception as e:  # noqa: BLE001 - report it, go on with the other checks
        return [_fail(name, f"{type(e).__name__}: {e}")]
    return result if isinstance(result, list) else [result]


def _configuration(config: Config) -> Check:
    where = str(config.source) if config.source else "no tracline.toml (defaults)"
    overrides = sorted(k for k in os.environ if k.startswith("TRACLINE_"))
    detail = f"{where}; namespace {config.namespace!r}; home {config.home.resolve()}"
    if overrides:
        detail += f"; environment: {', '.join(overrides)}"
    if config.disabled:
        return _warn("configuration", detail + "; DISABLED: nothing is captured or emitted",
                     "unset TRACLINE_DISABLED (or [tracline] disabled) to record runs")
    return _ok("configuration", detail)


def _creatable(path: str) -> str | None:
    """Why a file could not be created at ``path`` (None: it could)."""
    folder = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(folder):
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK | os.X_OK):
        return f"{folder} is not a writable folder"
    return None


def _not_yet(name: str, path: str, hint: str) -> Check:
    """A store that is made on first use and does not exist yet (the doctor makes nothing)."""
    why = _creatable(path)
    if why is not None:
        return _fail(name, f"cannot be created at {path}: {why}", hint)
    return _ok(name, f"{path} (not created yet: made on first use)")


def _sqlite_path(url: str) -> str | None:
    """The file of a SQLite URL (None for other databases and in-memory SQLite)."""
    if not url.startswith("sqlite:///"):
        return None
    path = url[len("sqlite:///"):].split("?", 1)[0]
    return path if path and path != ":memory:" else None


def _outbox(config: Config) -> Check:
    from tracline.delivery.outbox import Outbox
    from tracline.statefiles import damaged_copies

    damaged = damaged_copies(config.outbox_path) + damaged_copies(
        _sqlite_path(config.registry_url) or "")
    if damaged:
        return _warn("outbox", f"damaged files were moved aside: {', '.join(damaged)}",
                     "run `tracline outbox recover FILE` on each to deliver (or index) the "
                     "events it still holds, then delete it")
    if not config.outbox_path.exists():
        return _not_yet("outbox", str(config.outbox_path),
                        "set TRACLINE_OUTBOX (or [outbox] path) to a writable place")
    outbox = Outbox(config.outbox_path, mode=config.file_mode)
    try:
        pending = {s.name: s.pending for s in outbox.sink_states()}
        rejected = len(outbox.rejections())
        detail = f"{config.outbox_path} ({outbox.count()} events stored)"
        waiting = {name: n for name, n in pending.items() if n}
        if waiting:
            detail += "; waiting: " + ", ".join(f"{n} for {name}" for name, n in waiting.items())
        if rejected:
            return _warn("outbox", f"{detail}; {rejected} set aside (refused by a sink, or "
                         "failing there again and again)",
                         "see `tracline outbox status`, fix the cause, then "
                         "`tracline outbox requeue`")
        return _ok("outbox", detail)
    finally:
        outbox.close()


def _http_reachable(url: str, timeout: float) -> str | None:
    """None when ``url`` answers (any HTTP status), else why not."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return None
    except urllib.error.HTTPError:
        return None  # it answered
    except (urllib.error.URLError, OSError, ValueError) as e:
        return str(getattr(e, "reason", e))


def _sink(config: Config, sink: Any, timeout: float) -> Check:
    name = f"sink {sink.name} ({sink.type})"
    options = dict(sink.options)
    if sink.type == "registry":
        from tracline.registry import Registry

        url = str(options.get("url", config.registry_url))
        path = _sqlite_path(url)
        if path is not None and not os.path.exists(path):
            return _not_yet(name, path, f"fix [sinks.{sink.name}] url or [registry] url")
        registry = Registry(url)
        try:
            return _ok(name, f"{display_url(url)} ({registry.event_count()} events indexed)")
        finally:
            registry.close()
    if sink.type == "file":
        path = str(options.get("path", config.home / f"{sink.name}.jsonl"))
        if os.path.exists(path):
            if not os.access(path, os.W_OK):
                return _fail(name, f"{path} is not writable", "fix its permissions or the path")
            return _ok(name, path)
        return _not_yet(name, path, f"fix [sinks.{sink.name}] path")
    if sink.type in {"marquez", "http"}:
        url = str(options.get("url", "")).rstrip("/")
        probe = f"{url}/api/v1/namespaces" if sink.type == "marquez" else url
        why = _http_reachable(probe, timeout)
        if why is not None:
            return _warn(name, f"{display_url(url)} does not answer ({why}); events wait in "
                         "the outbox and are delivered once it does",
                         "start it, or fix [sinks." + sink.name + "] url")
        return _ok(name, f"{display_url(url)} answers")
    return _ok(name, "configured (its transport reports delivery errors: "
               "`tracline outbox status`)")


def _requests(config: Config) -> Check:
    from tracline.approvals import open_requests

    url = str(config.section("requests").get("url") or config.registry_url)
    path = _sqlite_path(url)
    if path is not None and not os.path.exists(path):
        return _not_yet("request store", path, "fix [requests] url")
    service = open_requests(config)
    try:
        return _ok("request store", f"{len(service.list())} training request(s)")
    finally:
        service.close()


def _capture(config: Config) -> list[Check]:
    from tracline.capture import find_strace, mechanism, worker_environment

    section = config.section("capture")
    strace = find_strace(section)
    checks = []
    for name, in_process in (("capture: tracline run", False), ("capture: in-process tasks", True)):
        found = mechanism(in_process=in_process, strace=strace, section=section)
        detail = f"{found.name}: {found.sees}"
        if not found.missing:
            checks.append(_ok(name, detail))
            continue
        hint = "reinstall tracline where a C compiler is present"
        if in_process and worker_environment():
            hint = ("start the orchestrator's workers (scheduler, worker, `airflow dags test`, "
                    f"...) with LD_PRELOAD={worker_environment()['LD_PRELOAD']}")
        checks.append(_warn(name, f"{detail}; {found.missing}", hint))
    if strace:
        checks.append(_ok("capture: strace", strace))
    else:
        checks.append(_warn(
            "capture: strace", "not found: statically linked programs (and, without the "
            "interposer, non-Python programs) are not observed",
            "install it (Debian: apt-get install strace)"))
    git = shutil.which("git")
    if git:
        checks.append(_ok("capture: git", git))
    else:
        checks.append(_warn("capture: git", "not found: runs are recorded without a code "
                            "version", "install git"))
    return checks


def _stat_cache(config: Config) -> Check:
    setting = str(config.section("hashing").get("stat_cache", True)).lower()
    if setting in {"false", "0"}:
        return _warn("stat cache", "off ([hashing] stat_cache = false): every file is read "
                     "again each time it is hashed")
    path = str(config.home.resolve() / "statcache.db")
    if not os.path.exists(path):
        return _not_yet("stat cache", path, "set TRACLINE_HOME to a writable folder")
    return _ok("stat cache", path)


def _gpus(config: Config) -> list[Check]:
    from tracline.gpu.prices import known_models, normalize_model, price_for
    from tracline.gpu.sampler import driver_present

    models = known_models(config)  # raises for a malformed [prices] table
    prices = _ok("GPU prices", f"{len(models)} models: {', '.join(models)}")
    if not driver_present():
        return [_ok("GPUs", "no NVIDIA driver: GPU cost comes from --gpus/--gpu-model "
                    "(recorded as declared)"), prices]
    import pynvml

    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as e:
        return [_warn("GPUs", f"NVIDIA driver present but NVML fails: {e}",
                      "check the driver (nvidia-smi); runs fall back to declared GPUs"), prices]
    try:
        names = [_text(pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(i)))
                 for i in range(pynvml.nvmlDeviceGetCount())]
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
    finally:
        pynvml.nvmlShutdown()
    checks = [_ok("GPUs", f"{len(names)} visible (driver {driver}): {', '.join(names)}")]
    for model in sorted(set(names)):
        try:
            price = price_for(model, config)
        except TraclineError as e:
            checks.append(_warn(f"price of {model}", e.message, e.hint))
        else:
            checks.append(_ok(f"price of {model}", f"{price.per_gpu_hour} {price.currency}/h "
                              f"({price.source}, as of {price.as_of}) as "
                              f"{normalize_model(model)}"))
    return [*checks, prices]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _integrations() -> list[Check]:
    """The checks of each installed integration (entry point group ``tracline.doctor``: a
    callable returning :class:`Check` objects), e.g. Airflow's OpenLineage transport."""
    from importlib.metadata import entry_points

    found: list[Check] = []
    for point in sorted(entry_points(group="tracline.doctor"), key=lambda p: p.name):
        found += _guarded(point.name, functools.partial(_load_checks, point))
    return found


def _load_checks(point: Any) -> list[Check]:
    return list(point.load()())


def run_checks(timeout: float = 3.0) -> Iterator[Check]:
    """Every check, in order (the configuration first: without it nothing else runs)."""
    try:
        config = load_config()
    except TraclineError as e:
        yield _fail("configuration", e.message, e.hint)
        yield from _integrations()  # their settings are theirs: still worth checking
        return
    yield from _guarded("configuration", lambda: _configuration(config))
    yield from _guarded("outbox", lambda: _outbox(config))
    for sink in config.sinks:
        yield from _guarded(f"sink {sink.name} ({sink.type})",
                            functools.partial(_sink, config, sink, timeout))
    yield from _guarded("request store", lambda: _requests(config))
    yield from _guarded("capture", lambda: _capture(config))
    yield from _guarded("stat cache", lambda: _stat_cache(config))
    yield from _guarded("GPUs", lambda: _gpus(config))
    yield from _integrations()


_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red"}


def _check_rows(check: Check) -> list[tuple[str, str, str]]:
    """``  ok  name: detail`` and, for a warning or failure, ``      → hint``, printed as
    written (a hint such as "fix [sinks.marquez] url" keeps its brackets)."""
    rows = [(f"{check.status:>4}", f"{check.name}: {check.detail}", _STYLE[check.status])]
    if check.hint and check.status != "ok":
        rows.append(("", f"→ {check.hint}", ""))
    return rows


@app.command("doctor")
@click.option("--timeout", default=3.0, show_default=True,
              help="Seconds to wait for each sink that is checked over the network.")
@json_option
def doctor(timeout: float, as_json: bool) -> None:
    """Check that this machine can capture, store and deliver lineage; exit 1 on a failure."""
    checks = list(run_checks(timeout))
    if as_json:
        print_json(checks)
    else:
        show(fields([row for check in checks for row in _check_rows(check)]))
        counts = {s: sum(c.status == s for c in checks) for s in ("ok", "warn", "fail")}
        line(f"\n{counts['ok']} ok, {counts['warn']} warning(s), {counts['fail']} failure(s)")
    if any(c.status == "fail" for c in checks):
        raise click.exceptions.Exit(1)
