"""The long-lived deliverer: one process per user and configuration that keeps the sinks (and
the libraries they need) loaded, so that a run's delivery costs its events, not a start-up.

A process that committed events calls :func:`poke`: one datagram to the deliverer's socket
(an abstract Unix socket named after the user and the configuration). If no deliverer
answers, it starts one, detached; a second one started at the same moment finds the name
taken and exits. The deliverer drains the outbox whenever it is poked or a sink's backoff
ends, and exits after ``[outbox] deliverer_idle`` seconds without work — events are safe in
the outbox meanwhile, and the next poke starts a new one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import sys
import time
from typing import TYPE_CHECKING

from tracline.config import Config

if TYPE_CHECKING:
    from tracline.delivery.deliverer import Deliverer

__all__ = ["address", "poke", "serve", "service_pid", "started_here"]

log = logging.getLogger("tracline.delivery")

#: How long a burst of pokes is left to gather before the next drain (seconds).
GATHER = 0.2

#: How the deliverer is started (the environment carries the configuration).
_ARGV = ("-m", "tracline.delivery", "serve")
#: Deliverers this process started (its children until it exits).
_STARTED: set[int] = set()


def _key(config: Config) -> str:
    """What makes two configurations deliver alike: the outbox, the sinks, the settings."""
    parts = {
        "uid": os.getuid(), "outbox": os.path.realpath(config.outbox_path),
        "registry": config.registry_url, "producer": config.producer,
        "sinks": [[s.name, s.type, sorted((k, str(v)) for k, v in s.options.items())]
                  for s in config.sinks],
        "retry": [config.max_backoff, config.max_attempts],
        # openlineage-python reads its transport's settings from the environment
        "env": sorted((k, v) for k, v in os.environ.items() if k.startswith("OPENLINEAGE")),
    }
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


def address(config: Config) -> str:
    """The deliverer's socket: abstract (no file) on Linux, a file beside the outbox else."""
    name = f"tracline-deliver-{os.getuid()}-{_key(config)}"
    if sys.platform.startswith("linux"):
        return "\0" + name
    return os.path.join(os.path.dirname(os.path.realpath(config.outbox_path)), f".{name}")


def _pid_file(config: Config) -> str:
    return os.path.join(os.path.dirname(os.path.realpath(config.outbox_path)),
                        f".deliverer-{_key(config)}.pid")


def service_pid(config: Config) -> int | None:
    """The pid of the deliverer of ``config`` if one runs (for benchmarks that count its CPU)."""
    try:
        with open(_pid_file(config)) as handle:
            pid = int(handle.read().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return None
    return pid


def _environment(config: Config) -> dict[str, str]:
    """The deliverer's environment: this configuration, whatever its working directory."""
    env = dict(os.environ)
    env["TRACLINE_HOME"] = os.path.realpath(config.home_dir)
    env["TRACLINE_OUTBOX"] = os.path.realpath(config.outbox_path)
    env["TRACLINE_REGISTRY_URL"] = config.registry_url
    if config.source is not None:
        env["TRACLINE_CONFIG"] = str(config.source)
    env.pop("TRACLINE_DISABLED", None)
    return env


def poke(config: Config, *, start: bool = True) -> str:
    """Tell the deliverer of ``config`` there is work, starting it (``start``) if none
    listens. Never raises, never waits: ``"poked"``, ``"started"``, or ``"failed"`` when
    neither could be done (the events wait in the outbox)."""
    if config.disabled:
        return "failed"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            # Never blocking: with its queue full, the deliverer has pokes to read already.
            sock.sendto(b"!", socket.MSG_DONTWAIT, address(config))
        return "poked"
    except BlockingIOError:
        return "poked"
    except OSError:
        pass  # nobody listens: start one
    if not start:
        return "failed"
    null = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDWR, 0) for fd in (0, 1, 2)]
    try:
        pid = os.posix_spawn(sys.executable, [sys.executable, *_ARGV], _environment(config),
                             file_actions=null, setsid=True)
    except OSError as e:
        log.warning("tracline: cannot start the deliverer (%s); run `tracline outbox flush`", e)
        return "failed"
    _STARTED.add(pid)
    return "started"


def started_here() -> frozenset[int]:
    """The deliverers this process started: its children, but not the work's (`tracline run`
    neither reports them as a command's daemons nor stops them at a time limit)."""
    return frozenset(_STARTED)


def serve(config: Config) -> int:
    """Run as the deliverer of ``config`` until idle; 0 when another one already runs."""
    from tracline.delivery.deliverer import Deliverer
    from tracline.delivery.outbox import Outbox
    from tracline.errors import TraclineError

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    where = address(config)
    try:
        if not where.startswith("\0") and os.path.exists(where):
            os.unlink(where)  # a file socket left by a deliverer that died
        sock.bind(where)
    except OSError:
        sock.close()
        return 0  # another deliverer has this configuration
    try:
        os.nice(5)  # behind the user's work, never starved by it
    except OSError:
        pass
    pid_file = _pid_file(config)
    try:
        with open(os.open(pid_file, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, config.file_mode),
                  "w") as handle:
            handle.write(f"{os.getpid()}\n")
        outbox = Outbox(config.outbox_path, mode=config.file_mode)
        deliverer = Deliverer(outbox, config)
        _loop(sock, deliverer, config)
    except TraclineError as e:
        log.warning("tracline: the deliverer stops: %s", e)
        return 1
    finally:
        sock.close()
        if not where.startswith("\0"):
            _unlink(where)
        _unlink(pid_file)
    return 0


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _settle() -> None:
    """Take what the first delivery loaded for good (modules, sinks, connections) out of the
    cyclic garbage collector's sight (``gc.freeze``): a big run's event is tens of thousands
    of objects, whose building sets off collections that would otherwise scan the whole
    process again each time, for nothing."""
    import gc

    gc.collect()
    gc.freeze()


def _loop(sock: socket.socket, deliverer: Deliverer, config: Config) -> None:
    import select

    idle = config.deliverer_idle
    last_work = time.monotonic()
    settled = False
    while True:
        try:
            report = deliverer.drain()
        except Exception as e:  # noqa: BLE001 - the deliverer survives anything
            log.warning("tracline: delivery failed: %s: %s", type(e).__name__, e)
            report = None
        if report is not None and any(report.delivered.values()):
            last_work = time.monotonic()
            if not settled:
                _settle()
                settled = True
        deliverer.checkpoint()
        if not os.path.exists(config.outbox_path):
            return  # the outbox went away (its folder was removed)
        wait = min(deliverer.next_due(), idle - (time.monotonic() - last_work))
        if wait <= 0 and time.monotonic() - last_work >= idle:
            return
        ready, _, _ = select.select([sock], [], [], max(wait, 0.01))
        if ready:
            pokes = 0
            while True:  # every poke so far asks for the same drain
                try:
                    sock.recv(16, socket.MSG_DONTWAIT)
                    pokes += 1
                except BlockingIOError:
                    break
            if pokes > 1:
                # A burst of commits (a process emitting event after event): let it gather
                # into one batch rather than drain after each event, which would keep the
                # emitting process waiting for the outbox's lock. A single poke (a run's
                # start or its end) is served at once.
                time.sleep(GATHER)
            last_work = time.monotonic()

