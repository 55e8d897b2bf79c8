"""Commands of a documentation page, as a reader would type them, and a runner for them.

A page's ```console blocks hold commands (lines starting with ``$ ``, continued by a trailing
backslash or by a here-document up to its end marker) and, after a command, the output it
prints. Sections are the page's ``## `` headings.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import attrs

_HEREDOC = re.compile(r"<<-?\s*'?\"?(\w+)'?\"?")
#: What legitimately differs between two runs of the same commands: hex digests and ids, and
#: timestamps. Masked with the same length, so that column layouts still compare.
_HEX = re.compile(r"[0-9a-f]{12,}")
_TIME = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d)?")


@attrs.frozen
class Command:
    """One command of the page: its text, the output shown after it, its section."""

    section: str
    text: str
    shown: tuple[str, ...]


def page_commands(markdown: str) -> list[Command]:
    """Every command of the page's console blocks, in order."""
    commands: list[Command] = []
    section, block = "", None
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        row = lines[i]
        if block is None:
            if row.startswith("## "):
                section = row[3:].strip()
            elif row.strip() == "```console":
                block = []
        elif row.strip() == "```":
            block = None
        elif row.startswith("$ "):
            text = [row[2:]]
            while text[-1].endswith("\\") and i + 1 < len(lines):
                i += 1
                text.append(lines[i])
            marker = _HEREDOC.search(text[0])
            if marker:
                while i + 1 < len(lines) and lines[i].strip() != marker.group(1):
                    i += 1
                    text.append(lines[i])
            shown: list[str] = []
            while (i + 1 < len(lines) and not lines[i + 1].startswith("$ ")
                   and lines[i + 1].strip() != "```"):
                i += 1
                shown.append(lines[i])
            commands.append(Command(section, "\n".join(text), tuple(shown)))
        i += 1
    return commands


def masked(text: str) -> str:
    """``text`` with digests, ids and timestamps masked (same length)."""
    text = _TIME.sub(lambda m: re.sub(r"\d", "0", m.group()), text)
    return _HEX.sub(lambda m: "x" * len(m.group()), text)


@attrs.frozen
class Outcome:
    """How one command ended and what it printed."""

    command: Command
    code: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        return (f"`{self.command.text}` (section {self.command.section!r}) exited "
                f"{self.code}\n--- stdout\n{self.stdout[-3000:]}\n--- stderr\n"
                f"{self.stderr[-3000:]}")


def run_commands(commands: Sequence[Command], *, cwd: Path, env: Mapping[str, str],
                 work: Path, timeout: float, prelude: str = "") -> list[Outcome]:
    """Run the commands in one bash shell (``cd`` and ``export`` carry over, as in a
    terminal), stopping at the first that fails; each one's output is kept apart. The
    shell's final folder and exported variables are saved in ``work`` (``cwd``, ``env.sh``)."""
    work.mkdir(parents=True, exist_ok=True)
    script = ["set -u", prelude]
    for n, command in enumerate(commands):
        out, err, code = work / f"{n}.out", work / f"{n}.err", work / f"{n}.code"
        script += ["{ " + command.text, f"}} > {out} 2> {err}", f"echo $? > {code}",
                   f'[ "$(cat {code})" = 0 ] || exit 1']
    script += [f"pwd > {work / 'cwd'}", f"export -p > {work / 'env.sh'}"]
    (work / "script.sh").write_text("\n".join(script) + "\n")
    subprocess.run(["bash", str(work / "script.sh")], cwd=cwd, env=dict(env), timeout=timeout,
                   stdin=subprocess.DEVNULL, check=False)
    outcomes = []
    for n, command in enumerate(commands):
        if not (work / f"{n}.code").exists():
            break
        outcomes.append(Outcome(command, int((work / f"{n}.code").read_text()),
                                (work / f"{n}.out").read_text(),
                                (work / f"{n}.err").read_text()))
    return outcomes
