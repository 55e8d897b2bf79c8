"""`tracline outbox status|flush|requeue`."""

from __future__ import annotations

import datetime as dt
import time

import click
from rich.table import Table

from tracline.cli._common import app, console, json_option, print_json
from tracline.config import load_config
from tracline.delivery import Emitter


@app.group("outbox")
def outbox_app() -> None:
    """Inspect and deliver the local event outbox."""


def _ago(ts: float | None) -> str:
    if not ts:
        return "never"
    seconds = max(0, time.time() - ts)
    return f"{seconds:.0f}s ago" if seconds < 120 else f"{seconds / 60:.0f}m ago"


@outbox_app.command("status")
@json_option
def status(as_json: bool) -> None:
    """Show what each sink has delivered, what is pending, and what was set aside."""
    config = load_config()
    emitter = Emitter(config, background=False)
    outbox = emitter.outbox()
    states = [s for s in outbox.sink_states() if s.name in {c.name for c in config.sinks}]
    rejections = outbox.rejections()
    if as_json:
        print_json(
            {
                "outbox": str(config.outbox_path),
                "events": outbox.count(),
                "sinks": states,
                "rejected": rejections,
            }
        )
        return
    console.print(f"outbox [bold]{config.outbox_path}[/] — {outbox.count()} events stored")
    table = Table("sink", "type", "delivered", "pending", "set aside", "last success", "last error")
    types = {s.name: s.type for s in config.sinks}
    for s in states:
        retry = ""
        if s.last_error and s.next_attempt_at > time.time():
            retry = f" (retry in {s.next_attempt_at - time.time():.0f}s)"
        table.add_row(
            s.name,
            types.get(s.name, "?"),
            str(s.delivered),
            str(s.pending),
            str(s.rejected),
            _ago(s.last_success_at),
            (s.last_error or "") + retry,
        )
    console.print(table)
    if rejections:
        console.print(f"[yellow]{len(rejections)} event(s) set aside (refused by a sink):[/]")
        for r in rejections[:20]:
            when = dt.datetime.fromtimestamp(r.at).isoformat(timespec="seconds")
            console.print(f"  #{r.event_id} {r.event_type} {r.job} → {r.sink}: {r.error} ({when})")
        console.print("  fix the cause, then `tracline outbox requeue` to send them again")


@outbox_app.command("flush")
@click.option("--timeout", default=60.0, show_default=True, help="Give up after this many seconds.")
@json_option
def flush(timeout: float, as_json: bool) -> None:
    """Deliver everything the outbox holds now; exit 1 if something is left."""
    config = load_config()
    emitter = Emitter(config, background=False)
    report = emitter.flush(timeout)
    if as_json:
        print_json(report)
    else:
        for sink in sorted(report.pending):
            line = (
                f"{sink}: delivered {report.delivered.get(sink, 0)},"
                f" set aside {report.rejected.get(sink, 0)}, pending {report.pending[sink]}"
            )
            if report.pending[sink] and sink in report.errors:
                line += f" — {report.errors[sink]}"
            console.print(line)
    if not report.complete:
        raise click.exceptions.Exit(1)


@outbox_app.command("requeue")
@click.option("--sink", default=None, help="Only events set aside by this sink.")
def requeue(sink: str | None) -> None:
    """Send events that a sink refused once more (after fixing the cause)."""
    config = load_config()
    count = Emitter(config, background=False).outbox().requeue_rejected(sink)
    console.print(f"requeued {count} event(s); run `tracline outbox flush` to deliver them")
