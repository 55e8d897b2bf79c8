"""The recipe of a task that runs inside an orchestrator's process: its own, not the worker's.

An orchestrator's worker was started by its own command (``airflow dags test ...``, a
Prefect worker) and has imported the orchestrator's whole world; neither is the task's
recipe. A task is either a Python callable — recorded as its module, qualified name, file and
the digest of its source — or a command (a ``BashOperator``'s, a shell task's), recorded as
its argv. Its packages are those of the modules it imported while it ran, the modules its
code refers to, and those its child processes imported.
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Callable, Iterable, Sequence
from typing import Any

__all__ = ["callable_recipe", "imported_since", "referenced_modules", "task_argv"]


def _unwrap(function: Callable[..., Any]) -> Callable[..., Any]:
    """The function a decorator or ``functools.partial`` wraps."""
    seen = set()
    while id(function) not in seen:
        seen.add(id(function))
        inner = getattr(function, "__wrapped__", None) or getattr(function, "func", None)
        if not callable(inner):
            break
        function = inner
    return function


def callable_recipe(function: Callable[..., Any]) -> dict[str, Any]:
    """``{"module", "qualname", "file", "sourceDigest"}`` of a task's callable (the digest is
    of its source text: an edit to the function changes it, one elsewhere in the file not)."""
    import inspect

    function = _unwrap(function)
    recipe: dict[str, Any] = {
        "module": getattr(function, "__module__", None) or "",
        "qualname": getattr(function, "__qualname__", None) or repr(function),
    }
    try:
        recipe["file"] = os.path.abspath(inspect.getfile(function))
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return recipe
    import blake3

    recipe["sourceDigest"] = "blake3:" + blake3.blake3(source.encode()).hexdigest()
    return recipe


def _code_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names


def referenced_modules(function: Callable[..., Any]) -> dict[str, str]:
    """Top-level module -> its file, for the modules a callable's code refers to through its
    module's globals and its closure (``np.load`` -> numpy)."""
    function = _unwrap(function)
    code = getattr(function, "__code__", None)
    if code is None:
        return {}
    namespace: dict[str, Any] = dict(getattr(function, "__globals__", {}))
    for name, cell in zip(code.co_freevars, getattr(function, "__closure__", None) or (),
                          strict=False):
        try:
            namespace[name] = cell.cell_contents
        except ValueError:  # an empty cell
            continue
    found: dict[str, str] = {}
    for name in _code_names(code) | set(code.co_freevars):
        value = namespace.get(name)
        if value is None:
            continue
        module = value.__name__ if isinstance(value, types.ModuleType) else \
            getattr(value, "__module__", None)
        if not isinstance(module, str):
            continue
        top = sys.modules.get(module.split(".", 1)[0])
        where = getattr(top, "__file__", None)
        if where:
            found[module.split(".", 1)[0]] = str(where)
    return found


def imported_since(before: Iterable[str]) -> dict[str, str]:
    """Top-level module -> file, for the modules imported since ``before`` was taken."""
    known = set(before)
    found: dict[str, str] = {}
    for name in list(sys.modules):
        top = name.split(".", 1)[0]
        if name in known or top in found:
            continue
        where = getattr(sys.modules.get(top), "__file__", None)
        if where:
            found[top] = str(where)
    return found


def task_argv(function: Callable[..., Any] | None, command: str | Sequence[str] | None,
              argv: Sequence[str] | None) -> list[str]:
    """The task's own command line: ``argv`` if given; a command's (``bash -c CMD`` for a
    string); none for a callable (its recipe is the callable); else this process's."""
    if argv is not None:
        return list(argv)
    if command is not None:
        return ["bash", "-c", command] if isinstance(command, str) else list(command)
    if function is not None:
        return []
    return list(sys.argv)
