"""How the CLI prints — the one place every command's output goes through.

On a terminal: rich, with colour, fitted to the terminal's width (tables keep their ids and
headers whole and cut long free text with "…"). Piped or redirected: plain text — no colour
or escape codes, nothing wrapped or cut, no trailing spaces — so that ``grep`` and ``awk`` see
whole lines. ``--json`` prints JSON only, errors included (see :func:`error_json`).

Text is never parsed as rich markup: square brackets (``[sinks.marquez]``) print as written.
rich is imported on first use, so a ``--json`` command never pays for it.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import attrs
import click

from tracline.errors import TraclineError

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
    from rich.text import Text

__all__ = [
    "Column",
    "error_json",
    "fields",
    "json_option",
    "line",
    "note",
    "number",
    "plain_text",
    "print_json",
    "show",
    "stderr_console",
    "stdout_console",
    "table",
    "to_jsonable",
    "warn",
]

F = TypeVar("F", bound=Callable[..., Any])

#: The width plain (piped) output is laid out at: wide enough that nothing is ever wrapped.
PLAIN_WIDTH = 100_000


def _console(*, stderr: bool) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, emoji=False, markup=False)


def _plain_console(file: Any = None) -> Console:
    from rich.console import Console

    return Console(file=file, width=PLAIN_WIDTH, color_system=None, highlight=False,
                   emoji=False, markup=False, soft_wrap=True, force_terminal=False)


def stdout_console() -> Console:
    """A console on standard output (styled when it is a terminal)."""
    return _console(stderr=False)


def stderr_console() -> Console:
    """A console on standard error (styled when it is a terminal)."""
    return _console(stderr=True)


def plain_text(*renderables: RenderableType) -> str:
    """Renderables as plain lines: no colour, nothing wrapped or cut, no trailing spaces."""
    import io

    out = io.StringIO()
    console = _plain_console(out)
    for renderable in renderables:
        console.print(renderable)
    return "".join(row.rstrip() + "\n" for row in out.getvalue().splitlines())


def show(*renderables: RenderableType, stderr: bool = False) -> None:
    """Print renderables: styled and fitted on a terminal, :func:`plain_text` elsewhere."""
    console = _console(stderr=stderr)
    if console.is_terminal:
        for renderable in renderables:
            console.print(renderable)
    else:
        (sys.stderr if stderr else sys.stdout).write(plain_text(*renderables))


def _text(value: object, style: str | None = None) -> Text:
    from rich.text import Text

    return value if isinstance(value, Text) else Text(str(value), style=style or "")


def line(text: object = "", style: str | None = None, *, stderr: bool = False) -> None:
    """One line of text, printed as written (never as markup)."""
    show(_text(text, style), stderr=stderr)


def note(text: str | None) -> None:
    """``note: ...`` on standard error (nothing for an empty note)."""
    if text:
        line(f"note: {text}", "yellow", stderr=True)


def warn(text: str) -> None:
    """``tracline: warning: ...`` on standard error."""
    line(f"tracline: warning: {text}", "yellow", stderr=True)


def number(value: Decimal | float | int) -> str:
    """A number as people write it: ``20``, ``0.5``, ``0.000068`` — never ``2E+1``."""
    if isinstance(value, float):
        value = Decimal(repr(value))
    if isinstance(value, int):
        return str(value)
    text = format(value.normalize(), "f")
    return "0" if text in {"-0", ""} else text


# -- key/value blocks and tables ----------------------------------------------------------------


@attrs.frozen
class _Fields:
    """Labelled values, laid out when printed (see :func:`fields`)."""

    rows: tuple[tuple[str, str, str], ...]
    indent: int

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.text import Text

        pad = " " * self.indent
        label_width = max((len(label) for label, _, _ in self.rows), default=0)
        hang = " " * (self.indent + label_width + 2)
        space = options.max_width - len(hang)
        for label, value, style in self.rows:
            head = Text.assemble(pad, (label.ljust(label_width), style), "  ")
            words = value.split()
            if not console.is_terminal or len(value) <= space:
                yield Text.assemble(head, value)
            elif max(map(len, words), default=0) <= space:  # wraps between words
                first, *rest = Text(value).wrap(console, space, overflow="fold")
                yield Text.assemble(head, first)
                yield from (Text.assemble(hang, part) for part in rest)
            else:  # a word longer than the column (a digest): whole, on its own line
                yield Text.assemble(pad, (label, style))
                deeper = " " * (self.indent + 2)
                for part in Text(value).wrap(console, options.max_width - len(deeper),
                                             overflow="fold"):
                    yield Text.assemble(deeper, part)


def fields(rows: Iterable[tuple[str, object] | tuple[str, object, str]], *,
           indent: int = 0) -> RenderableType:
    """Labelled values, one per line (a row's third item styles its label; default dim). On a
    terminal a long value wraps under itself, and one holding a word too long for that (a
    digest) goes whole on the next line, so that it can be copied; piped, every value stays
    on its label's line."""
    return _Fields(tuple((str(row[0]), str(row[1]), str(row[2]) if len(row) > 2 else "dim")
                         for row in rows), indent)


@attrs.frozen
class Column:
    """A table column.

    ``flexible``: cut with "…" (at the end, or in the ``middle`` for paths and commands) when
    a terminal is too narrow for the whole table — never when piped; each keeps ``min_width``
    and the room left goes to the highest ``priority`` first. ``drop``: left out when a
    terminal is too narrow even for the cut columns, the highest ``drop`` first (0: never).
    """

    header: str
    flexible: bool = False
    drop: int = 0
    justify: Literal["left", "right"] = "left"
    #: The fewest characters a flexible column is cut to (its header's width at least).
    min_width: int = 8
    cut: Literal["end", "middle"] = "end"
    priority: int = 0


#: Characters between two columns.
GAP = 2


@attrs.frozen
class _Fitted:
    """A table laid out when printed, for the console it is printed on."""

    columns: tuple[Column, ...]
    rows: tuple[tuple[str, ...], ...]
    title: str | None

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.table import Table

        plain = not console.is_terminal
        keep, widths = _layout(self.columns, self.rows, options.max_width, plain)
        table = Table(box=None, pad_edge=False, padding=(0, GAP // 2), collapse_padding=False,
                      header_style="" if plain else "bold underline", title=self.title,
                      title_justify="left", title_style="" if plain else "bold")
        for i in keep:
            column = self.columns[i]
            table.add_column(column.header, justify=column.justify, no_wrap=True,
                             overflow="crop", width=widths[i])
        for row in self.rows:
            table.add_row(*(_cut(row[i], widths[i], self.columns[i].cut) for i in keep))
        yield table


def _cell_width(text: str) -> int:
    from rich.cells import cell_len

    return max((cell_len(part) for part in text.split("\n")), default=0)


def _cut(text: str, width: int, where: str) -> str:
    """``text`` (each of its lines) cut to ``width`` characters, marked with "…"."""
    out = []
    for part in text.split("\n"):
        if len(part) > width:
            if where == "middle" and width > 4:
                head = (width - 1) // 2
                part = part[:head] + "…" + part[len(part) - (width - 1 - head):]
            else:
                part = part[: max(0, width - 1)] + "…"
        out.append(part)
    return "\n".join(out)


def _layout(columns: Sequence[Column], rows: Sequence[Sequence[str]], space: int,
            plain: bool) -> tuple[list[int], list[int]]:
    """Which columns to show and each one's width (piped: every column whole)."""
    natural = [max([_cell_width(c.header), *(_cell_width(r[i]) for r in rows)])
               for i, c in enumerate(columns)]
    keep = list(range(len(columns)))
    if plain:
        return keep, natural
    minimum = [n if not c.flexible else min(n, max(_cell_width(c.header), c.min_width))
               for c, n in zip(columns, natural, strict=True)]

    def needed(shown: list[int]) -> int:
        return sum(minimum[i] for i in shown) + GAP * (len(shown) - 1)

    while needed(keep) > space:
        droppable = [i for i in keep if columns[i].drop]
        if not droppable:
            break
        keep.remove(max(droppable, key=lambda i: (columns[i].drop, i)))
    widths = list(natural)
    flexible = [i for i in keep if columns[i].flexible]
    for i in flexible:
        widths[i] = minimum[i]
    left = space - sum(widths[i] for i in keep) - GAP * (len(keep) - 1)
    for priority in sorted({columns[i].priority for i in flexible}, reverse=True):
        group = sorted((i for i in flexible if columns[i].priority == priority),
                       key=lambda i: natural[i])
        for count, i in enumerate(group):  # an equal share each, the narrow ones first
            grow = min(natural[i] - widths[i], max(0, left) // (len(group) - count))
            widths[i] += grow
            left -= grow
    return keep, widths


def table(columns: Sequence[Column | str], rows: Iterable[Sequence[object]], *,
          title: str | None = None) -> RenderableType:
    """A table that stays readable at 80 columns and prints whole when piped (see
    :class:`Column`); a plain string is a fixed column of that header."""
    spec = tuple(c if isinstance(c, Column) else Column(c) for c in columns)
    cells = tuple(tuple("" if v is None else str(v) for v in row) for row in rows)
    return _Fitted(spec, cells, title)


# -- JSON -----------------------------------------------------------------------------------------


def json_option(func: F) -> F:
    """Add ``--json`` (machine-readable output, errors included) to a command."""
    return click.option("--json", "as_json", is_flag=True,
                        help="Print JSON (errors too) instead of text.")(func)


def to_jsonable(value: Any) -> Any:
    """``value`` as JSON types: attrs classes, mappings, sequences, paths, decimals, times."""
    if hasattr(value, "to_dict") and callable(value.to_dict):
        return to_jsonable(value.to_dict())
    if attrs.has(type(value)):
        return to_jsonable(attrs.asdict(value, recurse=False))
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if isinstance(value, Decimal):
        return number(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if hasattr(value, "__fspath__"):
        return str(value)
    return value


def print_json(value: Any) -> None:
    """``value`` as indented JSON on standard output."""
    sys.stdout.write(json.dumps(to_jsonable(value), indent=2, sort_keys=True) + "\n")


def error_json(error: TraclineError | click.ClickException, *, exit_code: int) -> None:
    """An error as ``{"error": {"type", "message", "hint", "exit_code"}}`` on standard output:
    a script that asked for JSON gets JSON, whatever happened."""
    if isinstance(error, TraclineError):
        kind, message, hint = type(error).__name__, error.message, error.hint
    else:
        kind, message = "UsageError", error.format_message()
        ctx = getattr(error, "ctx", None)
        hint = f"see `{ctx.command_path} --help`" if ctx is not None else None
    body = {"type": kind, "message": message, "hint": hint, "exit_code": exit_code}
    sys.stdout.write(json.dumps({"error": body}, indent=2, sort_keys=True) + "\n")
