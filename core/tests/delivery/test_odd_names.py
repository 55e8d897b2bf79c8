"""A file whose name is not valid UTF-8, through capture, delivery, the registry and lookups."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tracline.config import load_config
from tracline.delivery import wait_delivered
from tracline.events import path_bytes

RAW = b"bad\xff\xfe.bin"


def _tracline(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tracline", *args], cwd=root,
                          capture_output=True, text=True, timeout=300)


def test_a_non_utf8_file_is_traced_and_later_receipts_work(tracline_home: Path) -> None:
    """A run writes `bad\\xff\\xfe.bin`, another reads it: nothing is set aside by any sink,
    `tracline trace` finds the file by its path and through the later run's output, and
    the later run's receipt works (the registry is not blocked behind the odd name)."""
    root = tracline_home.parent
    write = f"open({RAW!r}, 'wb').write(b'z')"
    read = f"open({RAW!r}, 'rb').read(); open('model.txt', 'w').write('m')"
    for code in (write, read):
        done = _tracline(root, "run", "--", sys.executable, "-c", code)
        assert done.returncode == 0, done.stderr
    wait_delivered(load_config())
    status = json.loads(_tracline(root, "outbox", "status", "--json").stdout)
    assert status["rejected"] == [] and {s["pending"] for s in status["sinks"]} == {0}

    events = [json.loads(x) for x in (tracline_home / "events.jsonl").read_text().splitlines()]
    names = {d["name"] for e in events for d in e["inputs"] + e["outputs"]}
    odd = next(n for n in names if n.endswith(".bin"))
    assert odd == f"{root}/bad\\xff\\xfe.bin" and path_bytes(odd) == os.fsencode(root) + b"/" + RAW

    by_path = _tracline(root, "trace", os.fsdecode(RAW), "--json")  # the raw bytes as argv
    assert by_path.returncode == 0, by_path.stderr
    traced = json.loads(by_path.stdout)
    assert [a["name"] for a in traced["artifacts"]] == [odd]
    assert traced["runs"][0]["run_id"] == events[1]["run"]["runId"]  # the writing run
    model = json.loads(_tracline(root, "trace", "model.txt", "--json").stdout)
    assert odd in {a["name"] for a in model["artifacts"]}  # model.txt's input, upstream
    receipt = _tracline(root, "receipt", "model.txt")
    assert receipt.returncode == 0 and "Traceback" not in receipt.stderr, receipt.stderr
