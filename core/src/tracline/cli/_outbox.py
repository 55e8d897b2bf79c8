"""`tracline outbox status|flush|requeue`."""

from __future__ import annotations

import datetime as dt
import time

import click

from tracline.cli._app import app
from tracline.cli._output import Column, json_option, line, print_json, show, table
from tracline.config import load_config
from tracline.delivery import Emitter
from tracline.statefiles import damaged_copies, sqlite_path


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
    damaged = damaged_copies(config.outbox_path) + damaged_copies(
        sqlite_path(config.registry_url) or "")
    if as_json:
        print_json({"outbox": str(config.outbox_path), "events": outbox.count(),
                    "sinks": states, "rejected": rejections, "damaged": damaged})
        return
    line(f"outbox {config.outbox_path} — {outbox.count()} events stored")
    for copy in damaged:
        line(f"damaged file moved aside: {copy} — run `tracline outbox recover {copy}` to "
             "take back the events it holds", "red")
    types = {s.name: s.type for s in config.sinks}
    rows = []
    for s in states:
        retry = ""
        if s.last_error and s.next_attempt_at > time.time():
            retry = f" (retry in {s.next_attempt_at - time.time():.0f}s)"
        rows.append((s.name, types.get(s.name, "?"), s.delivered, s.pending, s.rejected,
                     _ago(s.last_success_at), (s.last_error or "") + retry))
    show(table([Column("sink", flexible=True), "type", Column("delivered", justify="right"),
                Column("pending", justify="right"), Column("set aside", justify="right"),
                "last success", Column("last error", flexible=True)], rows))
    if rejections:
        line(f"{len(rejections)} event(s) set aside (refused by a sink, or failing there "
             "again and again):", "yellow")
        for r in rejections[:20]:
            when = dt.datetime.fromtimestamp(r.at).isoformat(timespec="seconds")
            line(f"  #{r.event_id} {r.event_type} {r.job} → {r.sink}: {r.error} ({when})")
        line("  fix the cause, then `tracline outbox requeue` to send them again")


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
            text = (f"{sink}: delivered {report.delivered.get(sink, 0)},"
                    f" set aside {report.rejected.get(sink, 0)}, pending {report.pending[sink]}")
            if report.pending[sink] and sink in report.errors:
                text += f" — {report.errors[sink]}"
            line(text)
    if not report.complete:
        raise click.exceptions.Exit(1)


@outbox_app.command("recover")
@click.argument("file", type=click.Path(dir_okay=False))
@json_option
def recover_cmd(file: str, as_json: bool) -> None:
    """Take back the events a damaged outbox or registry (moved aside as NAME.damaged-TIME)
    still holds: into the outbox, to be delivered, or into the registry, indexed again."""
    from tracline.delivery import recover

    result = recover(load_config(), file)
    if as_json:
        print_json(result)
        return
    where = "queued for delivery in" if result.kind == "outbox" else "indexed again in"
    line(f"{result.recovered} event(s) from the damaged {result.kind} {file} "
         f"{where} {result.target}"
         + (f"; {result.unreadable} could not be read" if result.unreadable else ""))
    line(f"  once you are satisfied, delete {file} (and its -wal file, if any)")


@outbox_app.command("requeue")
@click.option("--sink", default=None, help="Only events set aside by this sink.")
@json_option
def requeue(sink: str | None, as_json: bool) -> None:
    """Send events that a sink refused once more (after fixing the cause)."""
    config = load_config()
    count = Emitter(config, background=False).outbox().requeue_rejected(sink)
    if as_json:
        print_json({"requeued": count, "sink": sink})
    else:
        line(f"requeued {count} event(s); run `tracline outbox flush` to deliver them")
