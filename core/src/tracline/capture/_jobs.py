"""Job names that say what ran (standard library only: used as a command starts).

A run's job name is ``[jobs] name`` of tracline.toml, a template over these placeholders
(default ``{target}``; the namespace, ``[tracline] namespace``, says which project — or write
``name = "{project}/{target}"`` where several projects share one):

* ``{project}`` — the project's folder name: where tracline.toml is, else the git checkout's
  top, else the working directory;
* ``{target}`` — what ran: the script (``pipeline/train.py``, relative to the project), the
  module (``pkg.train`` for ``python -m pkg.train``), or the program and its subcommand
  (``make train``, ``dvc repro``), seen through launchers (``torchrun``, ``accelerate
  launch``, ``uv run``, ``poetry run``, ``env``, ``nohup``, ...);
* ``{script}``, ``{module}``, ``{program}`` — each part alone (empty when there is none),
  ``{stem}`` — the script's or module's last name without suffix (``train``).

``tracline run --job NAME`` names one run. Orchestrator tasks are named by their
orchestrator (``dag.task`` in Airflow), as its own events name them.
"""

from __future__ import annotations

import os

# Imported as `tracline run` starts the command: no typing, and re only where it is used.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

__all__ = ["DEFAULT_TEMPLATE", "JobParts", "check_template", "default_job", "job_name",
           "job_parts"]

DEFAULT_TEMPLATE = "{target}"
PLACEHOLDERS = ("module", "program", "project", "script", "stem", "target")

#: Programs that run the next word (``nohup python x.py``) after their own options.
_WRAPPERS = {"env", "nohup", "time", "nice", "exec", "command", "xvfb-run"}
#: ``tool word`` pairs that run what follows: ``uv run``, ``poetry run``, ...
_RUNNERS = {("uv", "run"), ("poetry", "run"), ("pipenv", "run"), ("conda", "run"),
            ("mamba", "run"), ("pixi", "run"), ("hatch", "run"), ("pdm", "run"), ("rye", "run")}
#: Distributed launchers, whose options take values: the script, module or interpreter is
#: found by its shape further on.
_LAUNCHERS = {"torchrun", "deepspeed", "mpirun", "srun", "horovodrun", "accelerate",
              "python-launcher"}
#: Interpreters whose first non-option word is the script.
_INTERPRETERS = (r"^(python[0-9.]*|pypy[0-9.]*|bash|sh|zsh|dash|Rscript|node|julia|ruby|perl|"
                 r"deno|bun)$")
_SCRIPT_SUFFIXES = (".py", ".sh", ".r", ".R", ".jl", ".js", ".ts", ".rb", ".pl", ".ipynb")
_SUBCOMMAND = r"^[a-z][a-z0-9_:-]*$"


def _interpreter(word: str) -> bool:
    import re

    return re.match(_INTERPRETERS, os.path.basename(word)) is not None


class JobParts:
    """What a command runs, in the parts a job name is made of."""

    __slots__ = ("module", "program", "project", "script")

    def __init__(self, project: str, program: str = "", script: str = "",
                 module: str = "") -> None:
        self.project, self.program, self.script, self.module = project, program, script, module

    @property
    def stem(self) -> str:
        if self.script:
            return os.path.splitext(os.path.basename(self.script))[0]
        return self.module.rsplit(".", 1)[-1] if self.module else ""

    @property
    def target(self) -> str:
        return self.script or self.module or self.program or "command"

    def values(self) -> dict[str, str]:
        return {name: str(getattr(self, name)) for name in PLACEHOLDERS}


def project_root(cwd: str, config_file: str | None = None) -> str:
    """Where the project is: tracline.toml's folder, else the git checkout's top, else cwd."""
    if config_file:
        return os.path.dirname(config_file)
    folder = cwd
    while True:
        if os.path.exists(os.path.join(folder, ".git")):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return cwd
        folder = parent


def _relative(path: str, cwd: str, root: str) -> str:
    full = os.path.normpath(os.path.join(cwd, path))
    if full == root or full.startswith(root.rstrip(os.sep) + os.sep):
        return os.path.relpath(full, root)
    return os.path.basename(full)


def _skip_options(words: Sequence[str], i: int) -> int:
    """The index of the first word at or after ``i`` that is not an option (``-x``, ``--y=z``,
    ``VAR=value``). An option's separate value cannot be told from a word, except after
    ``-n``/``--name`` (conda) and ``-p``/``--prefix``."""
    while i < len(words):
        word = words[i]
        if word in {"-n", "--name", "-p", "--prefix", "-e", "--env"}:
            i += 2
        elif word.startswith("-") or ("=" in word and not word.startswith(("/", "."))):
            i += 1
        else:
            break
    return i


def job_parts(argv: Sequence[str], cwd: str, root: str) -> JobParts:
    """Find the script, module or program that ``argv`` runs."""
    parts = JobParts(os.path.basename(root.rstrip(os.sep)) or "project")
    words = list(argv)
    i = 0
    while i < len(words):
        name = os.path.basename(words[i])
        if name in _LAUNCHERS:
            for j in range(i + 1, len(words)):
                word = words[j]
                if word in {"-m", "--module"} and j + 1 < len(words):
                    parts.module = words[j + 1]
                    return parts
                if word.endswith(_SCRIPT_SUFFIXES) and not word.startswith("-"):
                    parts.script = _relative(word, cwd, root)
                    return parts
                if _interpreter(word):
                    i = j
                    break
            else:
                parts.program = name
                return parts
            continue
        if name in _WRAPPERS:
            i = _skip_options(words, i + 1)
            continue
        if i + 1 < len(words) and (name, words[i + 1]) in _RUNNERS:
            i = _skip_options(words, i + 2)
            continue
        break
    if i >= len(words):
        return parts
    program = os.path.basename(words[i])
    rest = words[i + 1:]
    if _interpreter(program):
        for j, word in enumerate(rest):
            if word == "-m" and j + 1 < len(rest):
                parts.module = rest[j + 1]
                return parts
            if word.startswith("-m") and len(word) > 2 and program.startswith(("python", "pypy")):
                parts.module = word[2:]
                return parts
            if word == "-c":
                parts.program = f"{program} -c"
                return parts
            if not word.startswith("-"):
                parts.script = _relative(word, cwd, root)
                return parts
        parts.program = program
        return parts
    if "/" in words[i] or program.endswith(_SCRIPT_SUFFIXES):
        parts.script = _relative(words[i], cwd, root)
        return parts
    sub = next((w for w in rest if not w.startswith("-")), "")
    import re

    parts.program = f"{program} {sub}" if sub and re.match(_SUBCOMMAND, sub) else program
    return parts


def check_template(jobs: Mapping[str, Any]) -> None:
    """Refuse a ``[jobs] name`` template that names unknown placeholders."""
    if "name" in jobs:
        _check(str(jobs["name"]))


def _check(template: str) -> None:
    import string

    from tracline.errors import ConfigError

    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as e:
        raise ConfigError(f"[jobs] name = {template!r} is not a valid template: {e}",
                          hint="write e.g. name = \"{project}/{target}\"") from None
    unknown = [f for f in fields if f not in PLACEHOLDERS]
    if unknown or not template.strip():
        named = unknown[0] if unknown else "nothing"
        raise ConfigError(f"[jobs] name = {template!r} names {named}",
                          hint=f"use the placeholders {', '.join(PLACEHOLDERS)}")


def job_name(argv: Sequence[str], cwd: str, *, jobs: Mapping[str, Any] | None = None,
             config_file: str | None = None) -> str:
    """The job name of a command run in ``cwd`` (``jobs``: the ``[jobs]`` table)."""
    template = str((jobs or {}).get("name", DEFAULT_TEMPLATE))
    if template != DEFAULT_TEMPLATE:
        _check(template)
    parts = job_parts(argv, cwd, project_root(cwd, config_file))
    name = template.format(**parts.values()).strip().strip("/")
    while "//" in name:
        name = name.replace("//", "/")
    return name or parts.target


def default_job(argv: Sequence[str], cwd: str) -> str:
    """The job name with the default template (no configuration at hand)."""
    return job_name(argv, cwd)
