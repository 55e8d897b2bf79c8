"""Which observed paths are the run's inputs and outputs, and which are noise.

Noise is what any program touches: the interpreter and its libraries, ``/proc``, ``/sys``,
``/dev``, system folders, caches, temporary folders, ``.git``, the tracline home, and the
program's own code. Users extend the rules in ``tracline.toml``::

    [capture]
    ignore = ["*.log", "scratch/**", "/data/tmp/**"]   # never inputs or outputs
    keep = ["/tmp/shared/*.parquet"]                     # even where a default rule ignores

A pattern with no ``/`` matches a file name anywhere; one with ``/`` matches from the working
directory (or from the root when it starts with ``/``); ``**`` spans folders.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable, Sequence

import attrs

from tracline.capture._observe import Observed, PythonProcess
from tracline.errors import ConfigError

__all__ = ["Classified", "IgnoreRules", "classify", "glob_regex"]

_SYSTEM = ("/proc/", "/sys/", "/dev/", "/run/", "/etc/", "/usr/", "/lib/", "/lib32/",
           "/lib64/", "/bin/", "/sbin/", "/var/lib/", "/var/cache/", "/var/run/",
           "/opt/conda/pkgs/", "/snap/")
_NOISE_PARTS = {".git", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache",
                ".hypothesis", ".ipynb_checkpoints", ".tox", ".nox"}
_CODE_SUFFIXES = (".py", ".pyc", ".pyo", ".pyi", ".pth", ".so", ".pyd")
_HOME_CACHES = (".cache", ".nv", ".triton", ".local/lib", ".local/share/jupyter", ".config",
                ".ipython", ".keras/keras.json", ".matplotlib", ".npm", ".cargo", ".rustup")
#: Caches that hold real inputs (downloaded models and data sets): kept by default.
_KEEP_DEFAULT = ("~/.cache/huggingface/hub/**/snapshots/**", "~/.cache/huggingface/datasets/**",
                 "~/.cache/torch/hub/checkpoints/**", "~/.keras/datasets/**")
_INTERPRETERS = re.compile(r"^(python[0-9.]*|pypy[0-9.]*|bash|sh|dash|zsh|ksh|perl|ruby|node|"
                           r"Rscript|julia|lua[0-9.]*|php|tclsh)$")


def glob_regex(pattern: str, cwd: str) -> str:
    """The regex (as text) that a capture glob pattern stands for, for absolute paths."""
    pattern = os.path.expanduser(pattern.strip())
    if not pattern:
        raise ValueError("empty pattern")
    directory = pattern.endswith("/")
    pattern = pattern.rstrip("/") or "/"
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            if pattern.startswith("/", i):
                out.append("/?")
                i += 1
            continue
        char = pattern[i]
        out.append("[^/]*" if char == "*" else "[^/]" if char == "?" else re.escape(char))
        i += 1
    body = "".join(out)
    if pattern.startswith("/"):
        head = ""
    elif "/" in pattern:
        head = re.escape(cwd.rstrip("/") + "/")
    else:
        head = "(?:.*/)?"
    tail = "/.*" if directory else "(?:/.*)?"
    return f"{head}{body}{tail}"


def _compile(patterns: Iterable[str], cwd: str, key: str) -> re.Pattern[str] | None:
    parts = []
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise ConfigError(f"[capture] {key} holds {pattern!r}, which is not a string",
                              hint=f'write {key} = ["*.log", "scratch/**"]')
        try:
            parts.append(glob_regex(pattern, cwd))
        except ValueError:
            raise ConfigError(f"[capture] {key} holds an empty pattern",
                              hint="remove it or write a glob such as '*.tmp'") from None
    return re.compile("^(?:" + "|".join(parts) + ")$") if parts else None


#: First path components under a temporary folder that are scratch space: tempfile's default
#: names (``tmp`` + 8 characters), multiprocessing, torch elastic, X11 and systemd sockets.
_SCRATCH = re.compile(r"^(tmp[a-z0-9_]{8}|pymp-.*|torchelastic_.*|\.X11-unix|\.ICE-unix"
                      r"|systemd-private-.*|\.s\.PGSQL\..*)$")


@attrs.define
class IgnoreRules:
    """Decides whether a path is noise; built once per run."""

    cwd: str
    home: str
    prefixes: list[str] = attrs.field(factory=list)
    temp: tuple[str, ...] = ()
    code: set[str] = attrs.field(factory=set)
    mentioned: set[str] = attrs.field(factory=set)
    ignore: re.Pattern[str] | None = None
    keep: re.Pattern[str] | None = None
    #: Answers so far, by (path, read): the watcher asks while the run goes on, and the
    #: classification at the end asks again for the same thousands of paths.
    _answers: dict[tuple[str, bool], bool] = attrs.field(factory=dict, init=False,
                                                         repr=False, eq=False)
    _prefixes: tuple[str, ...] = attrs.field(default=(), init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        self._prefixes = tuple(self.prefixes)

    @classmethod
    def build(cls, *, cwd: str, home: str, argv: Sequence[str] = (),
              ignore: Iterable[str] = (), keep: Iterable[str] = ()) -> IgnoreRules:
        """Rules for a run in ``cwd`` whose tracline home is ``home``."""
        user_home = os.path.expanduser("~")
        prefixes = [os.path.join(user_home, c) for c in _HOME_CACHES]
        prefixes.append(os.path.abspath(home))
        temp = tuple({os.path.realpath(tempfile.gettempdir()), tempfile.gettempdir(),
                      "/tmp", "/var/tmp", "/dev/shm"})
        rules = cls(cwd=cwd, home=home, prefixes=prefixes, temp=temp,
                    ignore=_compile(ignore, cwd, "ignore"),
                    keep=_compile([*_KEEP_DEFAULT, *keep], cwd, "keep"))
        rules.code, rules.mentioned = _argv_paths(argv, cwd)
        return rules

    def add_python(self, process: PythonProcess) -> None:
        """Ignore what an interpreter reads of itself: its prefixes and site folders."""
        for folder in (process.prefix, process.base_prefix,
                       *[p for p in process.path if "-packages" in p or p.endswith(".zip")]):
            if folder and not self.cwd.startswith(folder.rstrip("/") + "/") and folder != "/":
                self.prefixes.append(folder.rstrip("/") + "/")
        self._prefixes = tuple(self.prefixes)
        self._answers.clear()

    def ignored(self, path: str, *, read: bool = True) -> bool:
        """True when ``path`` is noise (``read``: it was only read, so code counts too)."""
        key = (path, read)
        answer = self._answers.get(key)
        if answer is None:
            answer = self._answers[key] = self._ignored(path, read)
        return answer

    def _ignored(self, path: str, read: bool) -> bool:
        if self.keep is not None and self.keep.match(path):
            return False
        if self.ignore is not None and self.ignore.match(path):
            return True
        if path.startswith(self._prefixes):
            return True
        inside = path.startswith(self.cwd.rstrip("/") + "/")
        if path.startswith(_SYSTEM) and not inside:
            return True
        if read and (path in self.code or path.endswith(_CODE_SUFFIXES)):
            return True
        if _NOISE_PARTS.intersection(path.split("/")) or path.endswith((".pyc", ".pyo")):
            return True
        for root in self.temp:
            if path.startswith(root.rstrip("/") + "/"):
                if inside or path in self.mentioned:
                    return False
                # Scratch space, not data: what tempfile and the runtimes name for themselves
                # (a checkout or a dataset that merely lives under /tmp is still data).
                first = path[len(root.rstrip("/")) + 1 :].split("/", 1)[0]
                return root == "/dev/shm" or bool(_SCRATCH.match(first))
        return False


def _argv_paths(argv: Sequence[str], cwd: str) -> tuple[set[str], set[str]]:
    """The program's own files (its script), and every existing path named on its command line."""
    code: set[str] = set()
    mentioned: set[str] = set()
    script_next = bool(argv) and bool(_INTERPRETERS.match(os.path.basename(argv[0])))
    for i, arg in enumerate(argv):
        value = arg.split("=", 1)[1] if arg.startswith("--") and "=" in arg else arg
        if not value or (value.startswith("-") and i):
            continue
        path = os.path.normpath(os.path.join(cwd, os.path.expanduser(value)))
        if i == 0 or (script_next and i == 1):
            code.add(path)
        elif os.path.exists(path) or os.path.exists(os.path.dirname(path)):
            mentioned.add(path)
    return code, mentioned


@attrs.frozen
class Classified:
    """A run's inputs (existed and were read) and outputs (written and still there)."""

    inputs: list[str]
    outputs: list[str]
    #: Inputs the run also changed: their digest is the one taken when they were read.
    modified: set[str]


def classify(observed: Observed, rules: IgnoreRules) -> Classified:
    """Split the observed paths into inputs and outputs, dropping noise."""
    written: dict[str, None] = dict(observed.writes)
    for src, dst in observed.renames:
        # A file renamed away is no output of its own — unless the run made it again
        # (`mv log log.1; echo > log`): then it is there at the end.
        if not os.path.lexists(src):
            written.pop(src, None)
        written[dst] = None
    outputs = [p for p in written if not rules.ignored(p, read=False)]
    inputs = [
        p for p in observed.reads
        if observed.first.get(p) == "R" and not rules.ignored(p)
    ]
    modified = {p for p in inputs if p in written}
    return Classified(inputs=inputs, outputs=outputs, modified=modified)
