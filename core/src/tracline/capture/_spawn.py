"""Follow the children of a captured Python process (standard library only).

A Python child inherits the bootstrap through the environment (``PYTHONPATH`` and the
``TRACLINE_CAPTURE_*`` variables, added back when the caller passes an explicit ``env``). A
non-Python child — a shell, ``cat``, a compiled tool — cannot report itself, so it is started
under ``strace -D``: the tracer runs as a detached grandchild, the program keeps its pid,
its exit status and its signals, and its file accesses go to a trace file in the capture
directory. Without strace such a child runs as is, and a ``Z`` record says it went unseen.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # no typing at run time (see _hooks)
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any

TRACE_CALLS = (
    "openat,open,creat,rename,renameat,renameat2,unlink,unlinkat,execve,"
    "chdir,fchdir,clone,clone3,fork,vfork"
)
_ISOLATING = set("IES")
#: The variables a child needs to report to the same capture (see ``_hooks``).
CAPTURE_ENV = (
    "TRACLINE_CAPTURE_LOG", "TRACLINE_CAPTURE_DIR", "TRACLINE_CAPTURE_STRACE",
    "TRACLINE_CAPTURE_BOOT",
)
_state: dict[str, Any] = {"recorder": None, "strace": "", "dir": "", "count": 0, "orig": {}}


def strace_prefix(strace: str, out: str) -> list[str]:
    """The argv that runs a program under strace, writing what it touches to ``out``."""
    return [
        strace, "-DD", "-I1", "-f", "-qq", "-y", "-s", "0", "-e", f"trace={TRACE_CALLS}",
        "-e", "status=successful", "-e", "signal=none",
        "-E", "TRACLINE_CAPTURE_TRACED=1", "-o", out, "--",
    ]


def which(program: str, env: Mapping[str, str] | None = None, cwd: str | None = None) -> str | None:
    """Resolve ``program`` as ``execvp`` would; None when it is not found."""
    if "/" in program:
        path = program if program.startswith("/") else os.path.join(cwd or os.getcwd(), program)
        return path if os.path.isfile(path) else None
    search = (env if env is not None else os.environ).get("PATH", os.defpath)
    for folder in search.split(os.pathsep):
        candidate = os.path.join(folder or ".", program)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def _python_name(name: str) -> bool:
    base = os.path.basename(name)
    for stem in ("python", "pypy"):
        if base.startswith(stem):
            return all(c in "0123456789." for c in base[len(stem):])
    return False


def _isolated(args: Sequence[str]) -> bool:
    """True when Python flags keep the bootstrap out (-I, -E, -S)."""
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg in ("-W", "-X"):
            skip = True
            continue
        if not arg.startswith("-") or arg in ("-", "-c", "-m") or arg.startswith("--"):
            return False
        if _ISOLATING & set(arg[1:]):
            return True
    return False


def is_python(path: str, argv: Sequence[str]) -> bool:
    """True when ``path`` runs a Python that will load the bootstrap."""
    if _python_name(path):
        return not _isolated(argv[1:])
    recorder = _state["recorder"]
    if recorder is not None:
        recorder.quiet_thread = _thread_id()
    try:
        with open(path, "rb") as handle:
            first = handle.read(256).split(b"\n", 1)[0]
    except OSError:
        return False
    finally:
        if recorder is not None:
            recorder.quiet_thread = None
    if not first.startswith(b"#!"):
        return False
    words = first[2:].decode("utf-8", "replace").split()
    if words and os.path.basename(words[0]) == "env":
        words = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
    return bool(words) and _python_name(words[0]) and not _isolated(words[1:])


def _thread_id() -> int:
    import _thread

    return _thread.get_ident()


def child_env(env: Mapping[str, str] | None) -> dict[str, str] | None:
    """``env`` with the capture variables added back (None: the child inherits ours)."""
    if env is None:
        return None
    merged = dict(env)
    for key in CAPTURE_ENV:
        if key in os.environ and key not in merged:
            merged[key] = os.environ[key]
    boot = os.environ.get("TRACLINE_CAPTURE_BOOT")
    if boot:
        current = merged.get("PYTHONPATH", "")
        if boot not in current.split(os.pathsep):
            merged["PYTHONPATH"] = boot + (os.pathsep + current if current else "")
    return merged


def _trace_file() -> str:
    _state["count"] += 1
    return os.path.join(_state["dir"], f"strace.{os.getpid()}.{_state['count']}")


def decide(program: str, argv: Sequence[str], env: Mapping[str, str] | None,
           cwd: str | None = None) -> list[str] | None:
    """The strace prefix for a non-Python child, or None to start it as is."""
    recorder = _state["recorder"]
    if recorder is None or not recorder.active or not recorder.files:
        return None
    path = which(os.fsdecode(program), env, cwd)
    if path is None or path == _state["strace"] or is_python(path, argv):
        return None
    if not _state["strace"]:
        recorder.write("Z", path)
        return None
    trace = _trace_file()
    recorder.write("T", trace)  # before the tracer exists: the run's end waits for it
    return strace_prefix(_state["strace"], trace)


def _wrap_execute_child(original: Callable[..., Any]) -> Callable[..., Any]:
    def _execute_child(self: Any, args: Any, executable: Any, *rest: Any) -> Any:
        rest_list = list(rest)
        cwd, env, shell = rest_list[3], rest_list[4], rest_list[7]
        items = [args] if isinstance(args, (str, bytes, os.PathLike)) else list(args)
        argv: list[str] = [os.fsdecode(a) for a in items]
        if shell:
            argv = ["/bin/sh", "-c", *argv]
        program = os.fsdecode(executable) if executable is not None else argv[0]
        try:
            prefix = decide(program, argv, env, os.fsdecode(cwd) if cwd else None)
            rest_list[4] = child_env(env)
        except Exception:  # noqa: BLE001 - never break the program's own spawn
            prefix = None
        if prefix is None:
            return original(self, args, executable, *rest_list)
        rest_list[7] = False
        return original(self, [*prefix, program, *argv[1:]], None, *rest_list)

    _execute_child._tracline = True  # type: ignore[attr-defined]
    return _execute_child


def patch_popen() -> None:
    """Wrap ``subprocess.Popen._execute_child`` (done on the first Popen, so never imported)."""
    subprocess = sys.modules.get("subprocess")
    popen = getattr(subprocess, "Popen", None)
    method = getattr(popen, "_execute_child", None)
    if method is not None and not getattr(method, "_tracline", False):
        popen._execute_child = _wrap_execute_child(method)  # type: ignore[union-attr]


class _PatchOnImport:
    """A one-shot import hook: wraps ``subprocess.Popen`` as soon as ``subprocess`` loads."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "subprocess":
            return None
        try:
            sys.meta_path.remove(self)
        except ValueError:
            pass
        import importlib.machinery

        spec = importlib.machinery.PathFinder.find_spec(name, path)
        loader = getattr(spec, "loader", None)
        if loader is not None and hasattr(loader, "exec_module"):
            original = loader.exec_module

            def exec_module(module: Any) -> None:
                original(module)
                patch_popen()

            loader.exec_module = exec_module
        return spec


def _wrap_exec(original: Callable[..., Any], with_env: bool) -> Callable[..., Any]:
    def exec_(path: Any, args: Sequence[Any], *more: Any, **options: Any) -> Any:
        argv = [os.fsdecode(a) for a in args]
        env = more[0] if with_env and more else None
        try:
            prefix = decide(os.fsdecode(path), argv, env)
            if with_env and more:
                more = (child_env(env), *more[1:])
        except Exception:  # noqa: BLE001
            prefix = None
        if prefix is None:
            return original(path, args, *more, **options)
        return original(prefix[0], [*prefix, os.fsdecode(path), *argv[1:]], *more, **options)

    return exec_


def _wrap_system(original: Callable[..., int]) -> Callable[..., int]:
    def system(command: Any) -> int:
        try:
            prefix = decide("/bin/sh", ["/bin/sh", "-c", command], None)
        except Exception:  # noqa: BLE001
            prefix = None
        if prefix is None:
            return original(command)
        quoted = " ".join(_quote(a) for a in [*prefix, "/bin/sh", "-c", os.fsdecode(command)])
        return original(quoted)

    return system


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def install(recorder: Any, strace: str, capture_dir: str) -> None:
    """Follow this process's children from now on (idempotent)."""
    _state.update(recorder=recorder, strace=strace, dir=capture_dir)
    recorder.on_popen = patch_popen
    if "subprocess" in sys.modules:
        patch_popen()
    elif not any(isinstance(f, _PatchOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _PatchOnImport())
    orig = _state["orig"]
    if orig:
        return
    for name, with_env in (("execv", False), ("execve", True), ("posix_spawn", True),
                           ("posix_spawnp", True)):
        function = getattr(os, name, None)
        if function is not None:
            orig[name] = function
            setattr(os, name, _wrap_exec(function, with_env))
    orig["system"] = os.system
    os.system = _wrap_system(os.system)
