"""The CLI's output layer: numbers, tables at 80 columns and piped, labelled values, JSON."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
from rich.console import Console

from tracline.cli._output import Column, fields, number, plain_text, print_json, table

LONG_TITLE = ("Fine-tune the resnet backbone on the night-time images of the third quarter "
              "with the new augmentation recipe")


def terminal(renderable: object, width: int = 80) -> list[str]:
    """What a terminal ``width`` columns wide shows (without colours)."""
    out = io.StringIO()
    Console(file=out, width=width, force_terminal=True, color_system=None,
            highlight=False).print(renderable)
    return [row.rstrip() for row in out.getvalue().splitlines()]


@pytest.mark.parametrize(("value", "text"), [
    (Decimal("2E+1"), "20"), (Decimal("20.00"), "20"), (Decimal("0.000068"), "0.000068"),
    (Decimal("1E-7"), "0.0000001"), (Decimal("-0"), "0"), (2.5, "2.5"),
    (1e21, "1" + "0" * 21), (7, "7")])
def test_numbers_are_never_in_exponent_form(value: Decimal | float, text: str) -> None:
    """Decimals and floats print as people write them, never as 2E+1."""
    assert number(value) == text


def requests_table() -> object:
    columns = [Column("id"), Column("state"), Column("requester", flexible=True),
               Column("project", flexible=True, drop=1), Column("compute", drop=2),
               Column("estimate", justify="right", drop=3), Column("budget", justify="right"),
               Column("title", flexible=True, min_width=12)]
    rows = [("req-6f350ab4d2fe", "completed", "agent:nightly-retrainer", "vision/resnet-night",
             "8×H100×3h", "$294.96", "$320.00", LONG_TITLE),
            ("req-0a1b2c3d4e5f", "pending", "user:chris", "nlp", "1×A10G×0.5h", "$0.52",
             "$1.00", "Short")]
    return table(columns, rows)


def test_table_fits_80_columns_with_ids_and_headers_whole() -> None:
    """At 80 columns every line fits, ids and headers are whole, each row is one line, and
    the long title is cut with an ellipsis instead of wrapping."""
    lines = terminal(requests_table())
    assert all(len(row) <= 80 for row in lines), lines
    header, first, second = lines
    assert header.split() == ["id", "state", "requester", "project", "budget", "title"]
    assert first.startswith("req-6f350ab4d2fe  completed  ") and first.endswith("…")
    assert second.startswith("req-0a1b2c3d4e5f  pending  ")


def test_wide_terminal_shows_every_column_whole() -> None:
    """With room enough, nothing is dropped or cut."""
    lines = terminal(requests_table(), width=240)
    assert "estimate" in lines[0] and "compute" in lines[0]
    assert lines[1].endswith(LONG_TITLE)


def test_piped_table_is_plain_whole_and_unwrapped() -> None:
    """Piped, a table keeps every column and cell whole on one line, without trailing
    spaces, escape codes or box characters."""
    text = plain_text(requests_table())
    lines = text.splitlines()
    assert len(lines) == 3 and lines[1].endswith(LONG_TITLE)
    assert all(row == row.rstrip() for row in lines)
    assert "\x1b" not in text and "─" not in text and "…" not in text


def test_middle_cut_keeps_both_ends() -> None:
    """A command cut in the middle still shows the program and the script."""
    cmd = "/very/long/path/to/a/virtual/environment/bin/python scripts/train_model.py"
    lines = terminal(table([Column("#"), Column("command", flexible=True, cut="middle")],
                           [("1", cmd)]), width=40)
    assert lines[1].startswith("1  /very/") and lines[1].endswith("train_model.py")
    assert "…" in lines[1]


def test_fields_put_a_digest_whole_on_its_own_line() -> None:
    """A value holding a word longer than the space beside its label goes whole on the next
    line (a digest stays copyable); shorter values wrap under themselves."""
    digest = "sha256:" + "ab" * 32
    rows = [("digest", digest), ("rationale", "word " * 30)]
    lines = terminal(fields(rows, indent=2))
    assert lines[0] == "  digest" and lines[1] == "    " + digest
    assert lines[2].startswith("  rationale  word") and lines[3].startswith("             word")
    assert all(len(row) <= 80 for row in lines)
    assert plain_text(fields(rows)).splitlines()[0] == f"digest     {digest}"


def test_brackets_are_printed_not_parsed_as_markup() -> None:
    """Square brackets in values and headers (config sections) survive terminal and pipe."""
    rows = [("hint", "start it, or fix [sinks.marquez] url"), ("where", "[tracline] in x")]
    for text in ("\n".join(terminal(fields(rows))), plain_text(fields(rows))):
        assert "fix [sinks.marquez] url" in text and "[tracline] in x" in text
    assert "[bold]x[/]" in plain_text(table([Column("[bold]x[/]")], [("[red]y",)]))


def test_json_handles_decimals_times_and_paths(capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    """print_json turns the CLI's values into JSON types, decimals without exponents."""
    when = dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.UTC)
    print_json({"gpu_h": Decimal("2E+1"), "at": when, "path": Path("/x"), "set": {1}})
    data = json.loads(capsys.readouterr().out)
    assert data["gpu_h"] == "20" and data["at"] == "2026-01-02T03:04:00+00:00"
    assert data["path"] == "/x" and data["set"] == [1]
