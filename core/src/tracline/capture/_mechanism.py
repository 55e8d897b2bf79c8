"""How files are observed, and how an orchestrator's worker turns the interposer on.

Capture's interposer (``_preload.c``, built by ``core/hatch_build.py``) is an ``LD_PRELOAD``
library: every dynamically linked process that starts with it sees its file accesses
reported — Python's own and native code's alike — and passes it on to the processes it starts.
``tracline run`` preloads it into the command. An orchestrator whose tasks run inside its own
worker process (Airflow, Prefect, Dagster) starts that worker with it preloaded
(:func:`worker_environment`); it stays dormant until an in-process capture turns it on
(:func:`interposer`, then ``tracline_capture_start``) and off again at the task's end.

Standard library only: ``tracline run`` imports this before the command starts.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

__all__ = ["PRELOAD_LIBRARY", "Mechanism", "interposer", "mechanism", "preload_library",
           "preloaded_path", "worker_environment"]

#: Capture's interposer, where it was built.
PRELOAD_LIBRARY = os.path.join(os.path.dirname(__file__), "_preload.so")
_OFF = {"false", "0", "off", "no"}


def preload_library(section: Mapping[str, Any] | None = None) -> str:
    """The interposer's path ('' when it is not built or ``[capture] preload = false``)."""
    setting = (section or {}).get("preload", True)
    if setting is False or str(setting).lower() in _OFF:
        return ""
    return PRELOAD_LIBRARY if os.path.exists(PRELOAD_LIBRARY) else ""


def worker_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables to start an orchestrator's worker with, so that its in-process captures
    see native I/O: ``LD_PRELOAD`` with the interposer first ({} when it is not built)."""
    library = preload_library()
    if not library:
        return {}
    current = (os.environ if environ is None else environ).get("LD_PRELOAD", "")
    others = [p for p in current.split(":") if p and p != library]
    return {"LD_PRELOAD": ":".join([library, *others])}


def preloaded_path(environ: Mapping[str, str] | None = None) -> str:
    """The interposer's entry in ``LD_PRELOAD`` ('' when it is not there)."""
    current = (os.environ if environ is None else environ).get("LD_PRELOAD", "")
    return next((p for p in current.split(":")
                 if os.path.basename(p) == "_preload.so" and os.path.exists(p)), "")


def interposer() -> Any:
    """The interposer loaded in this process (a ``ctypes`` library whose
    ``tracline_capture_start/stop/quiet/active`` an in-process capture calls), or None."""
    if not sys.platform.startswith("linux") or not preloaded_path():
        return None
    import ctypes

    try:
        library = ctypes.CDLL(None)
    except OSError:
        return None
    return library if hasattr(library, "tracline_capture_start") else None


class Mechanism:
    """What observes files, in words (``captureMode``, ``tracline doctor``)."""

    def __init__(self, name: str, sees: str, missing: str = "") -> None:
        self.name, self.sees, self.missing = name, sees, missing

    def __repr__(self) -> str:
        return f"Mechanism({self.name!r})"


def mechanism(*, in_process: bool, strace: str, section: Mapping[str, Any] | None = None,
              environ: Mapping[str, str] | None = None) -> Mechanism:
    """How files would be observed: by ``tracline run`` (``in_process=False``) or by an
    in-process capture in a process with ``environ``."""
    static = "static programs under strace" if strace else \
        "static programs not observed (strace missing)"
    native = "every file of the process tree, native code included (Arrow, HDF5, NumPy, C)"
    if in_process:
        if preloaded_path(environ):
            return Mechanism("preload", f"{native}; {static}")
        return Mechanism(
            "audit-hook", "files Python opens, and non-Python children under strace" if strace
            else "files Python opens",
            "files opened by native code (Parquet, HDF5, memory maps, C programs) are not "
            "observed: start the worker with " + (
                f"LD_PRELOAD={PRELOAD_LIBRARY}" if preload_library(section)
                else "the interposer (not built: reinstall tracline with a C compiler)"))
    if preload_library(section):
        return Mechanism("preload", f"{native}; {static}")
    return Mechanism(
        "audit-hook+strace" if strace else "audit-hook",
        "Python's files; other programs under strace" if strace else "Python's files only",
        "the interposer is not built (no C compiler at install): native code's files are "
        "seen only under strace")
