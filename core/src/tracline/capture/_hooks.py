"""Audit hooks that report a Python process's file accesses to a capture log.

Standard library only: the bootstrap ``sitecustomize`` loads this file by path into every
captured Python process (whatever its environment), and ``capture_in_process`` imports it
into the orchestrator's own process. Each record is one line appended to the log with one
``write``: ``<kind> TAB <pid> (TAB <field>)*``, tabs, newlines and backslashes escaped.

Kinds: ``H`` hello (ppid, executable, implementation, version, prefix, base prefix, then
``sys.path``), ``R`` read, ``W`` created or truncated, ``U`` opened for update, ``D`` removed,
``N`` renamed (source, destination), ``X`` started a program, ``T`` a tracer is about to
follow a child (its trace file), ``Z`` a child ran unobserved, ``M`` imported top-level
modules at exit (name, file, name, file, ...).

Where capture's interposer (``_preload.c``) is preloaded, it writes the file records of every
process, Python or not, to the same log; a Python process then only says hello and reports
its modules (:func:`start_child`). The audit hook here is the fallback where it is not.
"""

from __future__ import annotations

import os
import sys

# No typing at run time: every captured Python process loads this file, and importing
# typing (with re) would slow each of them down.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

ENV_LOG = "TRACLINE_CAPTURE_LOG"
ENV_DIR = "TRACLINE_CAPTURE_DIR"
ENV_STRACE = "TRACLINE_CAPTURE_STRACE"
ENV_TRACED = "TRACLINE_CAPTURE_TRACED"
ENV_BOOT = "TRACLINE_CAPTURE_BOOT"
#: The interposer's path, when the capture preloads it (``LD_PRELOAD``).
ENV_PRELOAD = "TRACLINE_CAPTURE_PRELOAD"
CAPTURE_ENV = (ENV_LOG, ENV_DIR, ENV_STRACE, ENV_TRACED, ENV_BOOT, ENV_PRELOAD)

_TRUNCATE = os.O_TRUNC | os.O_EXCL
_MODIFY = os.O_CREAT | os.O_APPEND | os.O_TRUNC
_RDONLY, _ACCMODE, _DIRECTORY = os.O_RDONLY, os.O_ACCMODE, os.O_DIRECTORY
_TRUNC, _CREAT, _EXCL = os.O_TRUNC, os.O_CREAT, os.O_EXCL
_OWN_MODULES = ("tracline", "_tracline_capture_hooks", "_tracline_capture_spawn", "sitecustomize")


def escape(text: str) -> str:
    """Escape a field so that it fits on one tab-separated line."""
    if "\\" in text or "\t" in text or "\n" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
    return text


def _path(value: Any, cwd: str | None = None) -> str | None:
    """An absolute, normalized path for an audit argument, or None for descriptors.

    ``cwd``: the working directory, if known (saves a getcwd() per relative path)."""
    if type(value) is str:  # the common case, without fspath/fsdecode
        text = value
    elif value is None or isinstance(value, int):
        return None
    else:
        text = os.fsdecode(os.fspath(value))
    if not text:
        return None
    if text[0] != "/":
        cwd = cwd or os.getcwd()
        text = (cwd if cwd != "/" else "") + "/" + text
    # normpath only changes a path with an empty, "." or ".." part (or a trailing /): skip
    # it for the usual plain path, as this runs on every open.
    if "/." in text or "//" in text or text[-1] == "/":
        return os.path.normpath(text)
    return text


class Recorder:
    """Appends one process's file accesses to a capture log, once per (kind, path)."""

    def __init__(self, log_path: str, *, files: bool = True) -> None:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        self.fd = os.open(log_path, flags, 0o600)
        self.log_path = log_path
        self._files = files
        self._active = True
        self.seen: set[str] = set()
        #: The thread that reads a program's first line (shebang): its opens are not the run's.
        self._quiet_thread: int | None = None
        #: Modules loaded before the program started (by ``.pth`` files): not the run's.
        self.preloaded = set(sys.modules)
        #: Called on a ``subprocess.Popen`` event, before the child is started.
        self.on_popen: Callable[[], None] | None = None
        #: This process's id (a fork updates it) and its working directory (None once a
        #: chdir is announced: looked up again on the next relative path). Both are system
        #: calls that every record would otherwise make.
        self.pid = os.getpid()
        self.cwd: str | None = None
        #: Whether its audit hook is installed (it cannot be removed once it is).
        self.hooked = False

    @property
    def active(self) -> bool:
        """Whether anything is reported (an in-process capture turns it off at its end)."""
        return self._active

    @active.setter
    def active(self, value: bool) -> None:
        self._active = value

    @property
    def files(self) -> bool:
        """Whether file accesses are reported (not where strace or the interposer sees them)."""
        return self._files

    @files.setter
    def files(self, value: bool) -> None:
        self._files = value

    @property
    def quiet_thread(self) -> int | None:
        """A thread whose opens are not the run's (reading a program's shebang line)."""
        return self._quiet_thread

    @quiet_thread.setter
    def quiet_thread(self, value: int | None) -> None:
        self._quiet_thread = value

    def retarget(self, log_path: str) -> None:
        """Write to another log from now on (a new in-process capture)."""
        old, self.fd = self.fd, os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT
                                        | os.O_CLOEXEC, 0o600)
        self.log_path = log_path
        self.seen = set()
        self.cwd = None
        os.close(old)

    def forked(self) -> None:
        """In a forked child: records carry the child's pid from now on."""
        self.pid = os.getpid()

    def where(self) -> str:
        """The working directory (cached until the next chdir)."""
        cwd = self.cwd
        if cwd is None:
            cwd = self.cwd = os.getcwd()
        return cwd

    def write(self, kind: str, *fields: str) -> None:
        line = kind + "\t" + str(self.pid)
        for field in fields:
            line += "\t" + escape(field)
        os.write(self.fd, (line + "\n").encode("utf-8", "surrogateescape"))

    def file(self, kind: str, path: str) -> None:
        key = kind + path  # a str (a tuple would be tracked by the garbage collector)
        if key in self.seen:
            return
        self.seen.add(key)
        if "\\" in path or "\t" in path or "\n" in path:
            path = escape(path)
        line = f"{kind}\t{self.pid}\t{path}\n"
        os.write(self.fd, line.encode("utf-8", "surrogateescape"))

    def hello(self) -> None:
        """Describe this interpreter (its prefixes tell the parent what to ignore)."""
        impl = sys.implementation.name
        version = ".".join(str(v) for v in sys.version_info[:3])
        self.write("H", str(os.getppid()), sys.executable or "", impl, version, sys.prefix,
                   sys.base_prefix, *[p for p in sys.path if p])

    def modules(self) -> None:
        """Report the top-level non-standard-library modules this process imported."""
        if not self.active:
            return
        stdlib: frozenset[str] = getattr(sys, "stdlib_module_names", frozenset())
        fields: list[str] = []
        for name, module in list(sys.modules.items()):
            if "." in name or name in stdlib or name in sys.builtin_module_names:
                continue
            if name in self.preloaded:
                continue
            if name.startswith(_OWN_MODULES):
                continue
            where = getattr(module, "__file__", None)
            if not where:
                paths = getattr(module, "__path__", None)
                where = next(iter(paths), None) if paths else None
            if where:
                fields += [name, str(where)]
        self.write("M", *fields)

    # -- the audit hook --------------------------------------------------------------------

    def hook(self, event: str, args: tuple[Any, ...]) -> None:
        if event == "open":  # by far the most frequent event: no table lookup
            if self._active:
                try:
                    _on_open(self, args)
                except Exception:  # noqa: BLE001 - an observer must never break the program
                    pass
            return
        handler = _HANDLERS.get(event)
        if handler is None or not self._active:
            return
        try:
            handler(self, args)
        except Exception:  # noqa: BLE001
            pass


def _on_open(rec: Recorder, args: tuple[Any, ...]) -> None:
    quiet = rec._quiet_thread
    if not rec._files or (quiet is not None and _thread_id() == quiet):
        return
    flags = args[2] if len(args) > 2 and isinstance(args[2], int) else _RDONLY
    if flags & _DIRECTORY:
        return
    path = _path(args[0], rec.cwd or rec.where())
    if path is None:
        return
    if flags & _ACCMODE == _RDONLY and not flags & _MODIFY:
        rec.file("R", path)
    elif flags & _TRUNC or (flags & _CREAT and flags & _EXCL):
        rec.file("W", path)
    else:
        rec.file("U" if os.path.exists(path) else "W", path)


def _on_rename(rec: Recorder, args: tuple[Any, ...]) -> None:
    src, dst = _path(args[0], rec.where()), _path(args[1], rec.where())
    if rec.files and src and dst:
        rec.write("N", src, dst)


def _on_remove(rec: Recorder, args: tuple[Any, ...]) -> None:
    path = _path(args[0], rec.where())
    if rec.files and path:
        rec.write("D", path)


def _on_truncate(rec: Recorder, args: tuple[Any, ...]) -> None:
    path = _path(args[0], rec.where())
    if rec.files and path:
        rec.file("U", path)


def _on_link(rec: Recorder, args: tuple[Any, ...]) -> None:
    path = _path(args[1], rec.where())
    if rec.files and path:
        rec.file("W", path)


def _on_sqlite(rec: Recorder, args: tuple[Any, ...]) -> None:
    if args and isinstance(args[0], (str, bytes, os.PathLike)) and args[0] != ":memory:":
        path = _path(args[0], rec.where())
        if rec.files and path:
            rec.file("U" if os.path.exists(path) else "W", path)


def _on_chdir(rec: Recorder, args: tuple[Any, ...]) -> None:
    rec.cwd = None  # announced before it happens: the next relative path looks it up


def _program(value: Any) -> str:
    if isinstance(value, (str, bytes, os.PathLike)):
        return os.fsdecode(value)
    if isinstance(value, (list, tuple)) and value:
        return os.fsdecode(value[0])
    return "?"


def _on_popen(rec: Recorder, args: tuple[Any, ...]) -> None:
    rec.write("X", _program(args[0] if args[0] is not None else args[1]))
    if rec.on_popen is not None:
        rec.on_popen()


def _on_exec(rec: Recorder, args: tuple[Any, ...]) -> None:
    rec.write("X", _program(args[0]))


def _on_spawn(rec: Recorder, args: tuple[Any, ...]) -> None:
    rec.write("X", _program(args[1]))


def _on_system(rec: Recorder, args: tuple[Any, ...]) -> None:
    rec.write("X", "/bin/sh")


def _thread_id() -> int:
    import _thread

    return _thread.get_ident()


_HANDLERS: dict[str, Callable[[Recorder, tuple[Any, ...]], None]] = {
    "open": _on_open,
    "os.rename": _on_rename,
    "os.remove": _on_remove,
    "os.truncate": _on_truncate,
    "os.link": _on_link,
    "shutil.rmtree": _on_remove,
    "sqlite3.connect": _on_sqlite,
    "subprocess.Popen": _on_popen,
    "os.exec": _on_exec,
    "os.posix_spawn": _on_exec,
    "os.spawn": _on_spawn,
    "os.system": _on_system,
    "os.chdir": _on_chdir,
}

_recorder: Recorder | None = None


def current() -> Recorder | None:
    """The recorder installed in this process, if any."""
    return _recorder


def install(log_path: str, *, files: bool = True, hook: bool = True) -> Recorder:
    """Install (once per process) the recorder writing to ``log_path``, and its audit hook
    (``hook=False``: hello and modules only, where the interposer reports the files)."""
    global _recorder  # noqa: PLW0603
    if _recorder is not None:
        if _recorder.log_path != log_path:
            _recorder.retarget(log_path)
        _recorder.cwd = None  # a chdir while it was inactive went unannounced
        _recorder.files = files
        _recorder.active = True
        if hook and not _recorder.hooked:
            sys.addaudithook(_recorder.hook)
            _recorder.hooked = True
        return _recorder
    recorder = Recorder(log_path, files=files)
    _recorder = recorder
    if hook:
        sys.addaudithook(recorder.hook)
        recorder.hooked = True
    os.register_at_fork(after_in_child=recorder.forked)
    return recorder


def preloaded() -> bool:
    """True when capture's interposer is preloaded into this process for this capture."""
    library = os.environ.get(ENV_PRELOAD)
    return bool(library) and library in os.environ.get("LD_PRELOAD", "").split(":")


def start_child() -> None:
    """Bootstrap entry point: observe this process as the parent's environment asks."""
    log_path = os.environ.get(ENV_LOG)
    if not log_path or not hasattr(sys, "addaudithook"):
        return
    traced = os.environ.get(ENV_TRACED) == "1"
    native = preloaded()
    recorder = install(log_path, files=not (traced or native), hook=not native)
    recorder.hello()
    import atexit

    atexit.register(recorder.modules)
    strace = os.environ.get(ENV_STRACE, "")
    if not (traced or native):
        here = os.path.dirname(os.path.abspath(__file__))
        spawn = load("_tracline_capture_spawn", os.path.join(here, "_spawn.py"))
        spawn.install(recorder, strace, os.environ.get(ENV_DIR, ""))


def load(name: str, path: str) -> Any:
    """Import the file ``path`` as module ``name`` (byte-code cached; no importlib.util)."""
    import types
    from importlib.machinery import SourceFileLoader

    loader = SourceFileLoader(name, path)
    module = types.ModuleType(name)
    module.__file__, module.__loader__ = path, loader
    sys.modules[name] = module
    loader.exec_module(module)
    return module
