"""Read what a run's processes reported: the audit-hook log and strace's trace files.

Both are read while the run goes on (``Tail``) and folded into one :class:`Observed`: the
paths read, created, updated, renamed and removed, in the order first seen, plus the
interpreters and modules the Python processes reported.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

import attrs

__all__ = ["Observed", "PythonProcess", "StraceParser", "Tail", "unescape"]

_UNESCAPE = {"\\\\": "\\", "\\t": "\t", "\\n": "\n"}


def unescape(field: str) -> str:
    """Undo the hook log's escaping of one field."""
    if "\\" not in field:
        return field
    return re.sub(r"\\[\\tn]", lambda m: _UNESCAPE[m.group(0)], field)


@attrs.define
class PythonProcess:
    """One Python process that loaded the bootstrap."""

    pid: int
    executable: str
    implementation: str
    version: str
    prefix: str
    base_prefix: str
    path: list[str]


@attrs.define
class Observed:
    """Everything a run's processes reported, in the order it was first seen."""

    reads: dict[str, None] = attrs.field(factory=dict)
    writes: dict[str, None] = attrs.field(factory=dict)
    updates: set[str] = attrs.field(factory=set)
    removed: set[str] = attrs.field(factory=set)
    renames: list[tuple[str, str]] = attrs.field(factory=list)
    #: The first kind of access each path had: "R" means it existed and was read first.
    first: dict[str, str] = attrs.field(factory=dict)
    programs: dict[str, None] = attrs.field(factory=dict)
    untraced: dict[str, None] = attrs.field(factory=dict)
    pythons: list[PythonProcess] = attrs.field(factory=list)
    modules: dict[str, str] = attrs.field(factory=dict)

    def access(self, kind: str, path: str) -> None:
        """Fold one access: R read, W created/truncated, U updated in place, D removed."""
        self.first.setdefault(path, kind)
        if kind == "R":
            self.reads[path] = None
        elif kind in ("W", "U"):
            self.writes[path] = None
            if kind == "U":
                self.updates.add(path)
        elif kind == "D":
            self.removed.add(path)

    def rename(self, src: str, dst: str) -> None:
        self.renames.append((src, dst))
        self.first.setdefault(dst, "W")
        self.writes[dst] = None
        self.removed.add(src)

    def feed_hook_line(self, line: str) -> str | None:
        """Fold one audit-hook record; returns the path of a read, for early hashing."""
        parts = line.split("\t")
        kind = parts[0]
        if len(parts) < 3:
            return None
        if kind in ("R", "W", "U", "D"):
            path = unescape(parts[2])
            self.access(kind, path)
            return path if kind == "R" else None
        fields = [unescape(p) for p in parts[2:]]
        if kind == "N" and len(fields) >= 2:
            self.rename(fields[0], fields[1])
        elif kind == "X":
            self.programs[fields[0]] = None
        elif kind == "Z":
            self.untraced[fields[0]] = None
        elif kind == "H" and len(fields) >= 6:
            self.pythons.append(PythonProcess(int(parts[1]), fields[1], fields[2], fields[3],
                                              fields[4], fields[5], fields[6:]))
        elif kind == "M":
            for name, where in zip(fields[::2], fields[1::2], strict=False):
                self.modules.setdefault(name, where)
        return None


class Tail:
    """Reads whole lines appended to a file since the last call."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.offset = 0
        self.partial = b""

    def lines(self) -> list[str]:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        if not data:
            return []
        self.offset += len(data)
        data = self.partial + data
        cut = data.rfind(b"\n") + 1
        self.partial = data[cut:]
        return data[:cut].decode("utf-8", "surrogateescape").splitlines()


_LINE = re.compile(r"^(\d+)\s+(\w+)\((.*)\)\s+=\s+(\d+)(?:<(.*)>)?\s*$")
_ANNOTATED = re.compile(r"<(/.*)>$")
_ESCAPE = re.compile(rb"\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)")
_SIMPLE = {b"n": b"\n", b"t": b"\t", b"r": b"\r", b"v": b"\v", b"f": b"\f", b'"': b'"',
           b"\\": b"\\"}


def _string(token: str) -> str | None:
    """Decode one of strace's quoted C strings (None when the token is not one)."""
    token = token.strip()
    if len(token) < 2 or token[0] != '"' or token[-1] != '"':
        return None

    def one(match: re.Match[bytes]) -> bytes:
        code = match.group(1)
        if code[:1] == b"x":
            return bytes([int(code[1:], 16)])
        if code[:1].isdigit():
            return bytes([int(code, 8) & 0xFF])
        return _SIMPLE.get(code, code)

    raw = token[1:-1].encode("utf-8", "surrogateescape")
    return os.fsdecode(_ESCAPE.sub(one, raw))


def _annotation(text: str) -> str:
    """Decode the path in a ``-y`` annotation (``3</a\\303\\251>``), escaped as strings are."""
    if "\\" not in text:
        return text
    return _string(f'"{text}"') or text


def _split_args(text: str) -> list[str]:
    """Split a syscall's arguments at top-level commas (strings and brackets kept whole)."""
    args, depth, current, quoted, escaped = [], 0, [], False, False
    for char in text:
        if quoted:
            current.append(char)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
            continue
        if char == '"':
            quoted = True
        elif char in "[{(<":
            depth += 1
        elif char in "]})>":
            depth -= 1
        elif char == "," and depth == 0:
            args.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    if current:
        args.append("".join(current).strip())
    return args


class StraceParser:
    """Folds one strace ``-f -y`` trace into an :class:`Observed`, tracking each pid's cwd."""

    def __init__(self, observed: Observed, cwd: str) -> None:
        self.observed = observed
        self.cwd = cwd
        self.cwds: dict[int, str] = {}
        self.unfinished: dict[int, str] = {}

    def feed(self, lines: Iterable[str]) -> None:
        for line in lines:
            try:
                self._line(line)
            except (ValueError, IndexError):
                continue

    def _resolve(self, pid: int, dirfd: str | None, path: str) -> str:
        if path.startswith("/"):
            return os.path.normpath(path)
        base = None
        if dirfd is not None:
            match = _ANNOTATED.search(dirfd)
            base = _annotation(match.group(1)) if match else None
        return os.path.normpath(os.path.join(base or self.cwds.get(pid, self.cwd), path))

    def _line(self, line: str) -> None:
        head, _, rest = line.partition(" ")
        if not head.isdigit():
            return
        pid = int(head)
        if rest.endswith("<unfinished ...>"):
            self.unfinished[pid] = rest[: -len("<unfinished ...>")].rstrip()
            return
        if rest.startswith("<..."):
            start = self.unfinished.pop(pid, None)
            if start is None:
                return
            rest = start + rest.split("resumed>", 1)[1]
            line = f"{pid} {rest}"
        match = _LINE.match(line)
        if match is None:
            return
        call, args, result, annotation = match.group(2), _split_args(match.group(3)), \
            int(match.group(4)), match.group(5)
        self._call(pid, call, args, result, annotation)

    def _call(self, pid: int, call: str, args: list[str], result: int,
              annotation: str | None) -> None:
        obs = self.observed
        if call in ("clone", "clone3", "fork", "vfork"):
            self.cwds[result] = self.cwds.get(pid, self.cwd)
        elif call in ("open", "openat", "creat"):
            at = call == "openat"
            path = _string(args[1 if at else 0])
            if path is None:
                return
            flags = "O_WRONLY|O_TRUNC" if call == "creat" else args[2 if at else 1]
            if "O_DIRECTORY" in flags:
                return
            full = os.path.normpath(_annotation(annotation)) \
                if annotation and annotation.startswith("/") \
                else self._resolve(pid, args[0] if at else None, path)
            if "O_TRUNC" in flags or ("O_CREAT" in flags and "O_EXCL" in flags):
                obs.access("W", full)
            elif "O_WRONLY" in flags or "O_RDWR" in flags or "O_APPEND" in flags:
                obs.access("U" if full in obs.first else "W", full)
            else:
                obs.access("R", full)
        elif call in ("rename", "renameat", "renameat2"):
            if call == "rename":
                src, dst = _string(args[0]), _string(args[1])
                sdir = ddir = None
            else:
                src, dst, sdir, ddir = _string(args[1]), _string(args[3]), args[0], args[2]
            if src and dst:
                obs.rename(self._resolve(pid, sdir, src), self._resolve(pid, ddir, dst))
        elif call in ("unlink", "unlinkat"):
            path = _string(args[1 if call == "unlinkat" else 0])
            if path and not (call == "unlinkat" and "AT_REMOVEDIR" in args[2]):
                obs.access("D", self._resolve(pid, args[0] if call == "unlinkat" else None, path))
        elif call == "execve":
            path = _string(args[0])
            if path:
                obs.programs[self._resolve(pid, None, path)] = None
        elif call == "chdir":
            path = _string(args[0])
            if path:
                self.cwds[pid] = self._resolve(pid, None, path)
        elif call == "fchdir":
            match = _ANNOTATED.search(args[0])
            if match:
                self.cwds[pid] = _annotation(match.group(1))
