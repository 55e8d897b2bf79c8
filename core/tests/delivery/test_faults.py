"""Storage under faults: damaged files are moved aside and replaced, loudly, never reset;
every event not committed is counted; creation races are safe; state files are private."""

from __future__ import annotations

import json
import os
import resource
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tracline.config import load_config
from tracline.delivery import Emitter, recover, wait_delivered
from tracline.events import new_run_id, run_event
from tracline.registry import Registry
from tracline.statefiles import damaged_copies

DEAD = '[sinks.backend]\ntype = "http"\nurl = "http://127.0.0.1:9"\n'


def _cli(root: Path, *args: str, env: dict[str, str] | None = None,
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tracline", *args], cwd=root,
                          env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=300)


def _emit(count: int, job: str = "j") -> Emitter:
    emitter = Emitter(load_config(), background=False)
    for _ in range(count):
        assert emitter.emit(run_event("COMPLETE", run_id=new_run_id(), job_name=job,
                                      namespace="faults"))
    return emitter


def _one_clear_line(stderr: str, *words: str) -> None:
    """stderr says it once, names what to do, and shows no traceback."""
    lines = [line for line in stderr.splitlines() if "damaged" in line]
    assert len(lines) == 1, stderr
    assert all(w in lines[0] for w in words), lines[0]
    assert "Traceback" not in stderr


def test_outbox_truncated_to_nothing_is_reported_not_reset(tracline_home: Path) -> None:
    """An outbox truncated to 0 bytes is never taken for a new one silently: the next command
    says so in one line, keeps the file aside, and starts a new outbox."""
    root = tracline_home.parent
    (root / "tracline.toml").write_text(DEAD)
    _emit(5).close()
    os.truncate(tracline_home / "outbox.db", 0)
    done = _cli(root, "outbox", "status", "--json")
    assert done.returncode == 0, done.stderr
    _one_clear_line(done.stderr, "truncated", "moved", "tracline outbox recover")
    report = json.loads(done.stdout)
    assert report["events"] == 0
    (copy,) = report["damaged"]
    assert os.path.getsize(copy) == 0 and copy == damaged_copies(tracline_home / "outbox.db")[0]


def test_a_run_goes_on_over_a_garbage_outbox(tracline_home: Path) -> None:
    """An outbox overwritten with garbage: `tracline run` runs the command, passes its exit
    code through, says once what happened and what to do, and records the run anew; the
    garbage is kept byte for byte for recovery."""
    root = tracline_home.parent
    tracline_home.mkdir()
    garbage = os.urandom(40_000)
    (tracline_home / "outbox.db").write_bytes(garbage)
    done = _cli(root, "run", "--", sys.executable, "-c",
                "open('ran.txt', 'w').write('yes'); raise SystemExit(3)",
                env={"TRACLINE__CAPTURE__DELIVER": "none"})
    assert done.returncode == 3, done.stderr
    assert (root / "ran.txt").read_text() == "yes"
    _one_clear_line(done.stderr, "outbox", "moved", "tracline outbox recover")
    (copy,) = damaged_copies(tracline_home / "outbox.db")
    assert Path(copy).read_bytes() == garbage
    assert Emitter(load_config(), background=False).outbox().count() == 2  # START, FAIL


def test_outbox_damaged_under_a_running_writer(tracline_home: Path) -> None:
    """The outbox is truncated while a process writes to it: the writer goes on without a
    traceback, the next command reports the damage once, and `tracline outbox recover`
    takes back from the copy what it still holds."""
    root = tracline_home.parent
    (root / "tracline.toml").write_text(DEAD)
    writer = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent("""
            import sys
            from tracline.config import load_config
            from tracline.delivery import Emitter
            from tracline.events import new_run_id, run_event
            emitter = Emitter(load_config(), background=False)
            def emit(n):
                for _ in range(n):
                    emitter.emit(run_event("START", run_id=new_run_id(), job_name="w",
                                           namespace="faults"))
            emit(30)
            print("half", flush=True)
            sys.stdin.readline()
            emit(30)
            print(emitter.dropped, flush=True)
        """)], cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    assert writer.stdout is not None and writer.stdin is not None
    assert writer.stdout.readline().strip() == "half"
    os.truncate(tracline_home / "outbox.db", 0)
    out, err = writer.communicate("go\n", timeout=300)
    assert writer.returncode == 0 and "Traceback" not in err, err
    status = _cli(root, "outbox", "status", "--json")
    assert status.returncode == 0 and "Traceback" not in status.stderr, status.stderr
    copies = damaged_copies(tracline_home / "outbox.db")
    assert copies, status.stderr
    held = json.loads(status.stdout)["events"]
    taken = sum(recover(load_config(), copy).recovered for copy in copies)
    # What the writer committed is in the new outbox or in the copies, or counted dropped.
    assert held + taken + int(out.strip()) >= 30


def test_full_disk_counts_every_event_not_committed(tracline_home: Path) -> None:
    """When the outbox cannot grow (the disk is full), emit() goes on returning None, one
    warning says why and what to do, ``dropped`` counts every lost event, and what was
    committed is delivered later — no traceback anywhere."""
    root = tracline_home.parent
    script = textwrap.dedent("""
        from tracline.config import load_config
        from tracline.delivery import Emitter
        from tracline.events import new_run_id, run_event
        emitter = Emitter(load_config(), background=False)
        ids = [emitter.emit(run_event("COMPLETE", run_id=new_run_id(), job_name="x" * 4000,
                                      namespace="full")) for _ in range(300)]
        print(sum(1 for i in ids if i), emitter.dropped)
    """)

    def small_disk() -> None:  # files may not grow past 256 KiB in this process
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 << 10, 256 << 10))

    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # inherited: a write fails instead
    try:
        done = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True,
                              text=True, timeout=300, preexec_fn=small_disk)
    finally:
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    assert done.returncode == 0, done.stderr
    committed, dropped = map(int, done.stdout.split())
    assert dropped > 0 and committed + dropped == 300
    warnings = [line for line in done.stderr.splitlines() if "tracline" in line]
    assert len(warnings) == 1 and "Traceback" not in done.stderr, done.stderr
    flush = _cli(root, "outbox", "flush", "--json")
    assert flush.returncode == 0, flush.stderr
    assert json.loads(flush.stdout)["delivered"]["file"] == committed


def test_damaged_registry_is_replaced_and_recovered(tracline_home: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    """A registry overwritten with garbage is moved aside and a new one indexes the events;
    `recover` on a registry copy indexes again every event it holds."""
    _emit(3, "before").close()
    wait_delivered(load_config())
    registry_file = tracline_home / "tracline.db"
    healthy = tracline_home.parent / "healthy.db"
    healthy.write_bytes(registry_file.read_bytes())
    registry_file.write_bytes(os.urandom(8192))
    for suffix in ("-wal", "-shm"):
        Path(f"{registry_file}{suffix}").unlink(missing_ok=True)
    _emit(2, "after").close()
    wait_delivered(load_config())
    assert any("registry" in r.getMessage() and "damaged" in r.getMessage()
               and "recover" in r.getMessage() for r in caplog.records)
    (copy,) = damaged_copies(registry_file)
    assert Path(copy).stat().st_size == 8192
    registry = Registry(load_config().registry_url)
    assert registry.event_count() == 2
    result = recover(load_config(), healthy)
    assert (result.kind, result.recovered, result.unreadable) == ("registry", 3, 0)
    assert registry.event_count() == 5


def test_recover_takes_back_what_a_damaged_outbox_still_holds(tracline_home: Path) -> None:
    """Undelivered events of an outbox copy are queued again; a damaged page costs only
    the rows on it, counted."""
    root = tracline_home.parent
    (root / "tracline.toml").write_text(DEAD)
    _emit(200).close()
    source = tracline_home / "outbox.db"
    copy = root / "outbox-copy.db"
    data = bytearray(source.read_bytes())
    page = 16384
    middle = (len(data) // page // 2) * page
    data[middle + 100:middle + page] = os.urandom(page - 100)  # one leaf page of events
    copy.write_bytes(bytes(data))
    source.unlink()
    result = recover(load_config(), copy)
    assert result.kind == "outbox"
    assert 0 < result.unreadable < 200 and result.recovered + result.unreadable <= 200
    assert result.recovered >= 150
    assert Emitter(load_config(), background=False).outbox().count() == result.recovered


CREATE = textwrap.dedent("""
    import os, sys, time
    from tracline.delivery.outbox import Outbox
    from tracline.events import run_event, to_dict, to_json
    from tracline.hashing import StatCache
    from tracline.registry import Registry
    home = sys.argv[1]
    event = run_event("START", run_id=sys.argv[2], job_name="j", namespace="n")
    while not os.path.exists(os.path.join(home, "go")):
        time.sleep(0.001)
    Registry(f"sqlite:///{home}/tracline.db").ingest(to_dict(event))
    Outbox(os.path.join(home, "outbox.db")).append(to_json(event), run_id=sys.argv[2],
                                                   event_type="START", job="j")
    cache = StatCache(os.path.join(home, "statcache.db"))
    cache.guarded("test", None, lambda db: db.execute("SELECT 1"))
    assert not cache._broken
""")


def test_stores_created_by_many_processes_at_once(tracline_home: Path) -> None:
    """Eight processes creating the registry, outbox and stat cache at the same moment all
    succeed, and every one's writes are there."""
    home = tracline_home / "new"
    procs = [subprocess.Popen([sys.executable, "-c", CREATE, str(home), new_run_id()],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(8)]
    home.mkdir(parents=True)
    (home / "go").touch()
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert "already exists" not in err and "Traceback" not in err, err
    assert Registry(f"sqlite:///{home}/tracline.db").event_count() == 8
    from tracline.delivery.outbox import Outbox

    assert Outbox(home / "outbox.db").count() == 8


@pytest.mark.parametrize(("setting", "mode"), [(None, 0o600), ("0640", 0o640)])
def test_state_files_are_created_private(tracline_home: Path, setting: str | None,
                                         mode: int) -> None:
    """A run's outbox, registry, stat cache and JSON-lines file are readable by their owner
    only (or as ``[tracline] file_mode`` says), whatever the umask."""
    env = {"TRACLINE__TRACLINE__FILE_MODE": setting} if setting else {}
    root = tracline_home.parent
    (root / "data.txt").write_text("x")
    old = os.umask(0o002)
    try:
        done = _cli(root, "run", "--", sys.executable, "-c", "open('data.txt').read()", env=env)
    finally:
        os.umask(old)
    assert done.returncode == 0, done.stderr
    wait_delivered(load_config({**os.environ, **env}, root))
    names = ["outbox.db", "tracline.db", "events.jsonl", "statcache.db"]
    modes = {name: stat.S_IMODE((tracline_home / name).stat().st_mode) for name in names}
    assert modes == dict.fromkeys(names, mode)
    for side in tracline_home.glob("*.db-wal"):
        assert stat.S_IMODE(side.stat().st_mode) == mode, side


EXITING = textwrap.dedent("""
    import atexit
    import tracline
    from tracline.delivery import reset_emitter
    from tracline.events import new_run_id, run_event

    def event(job):
        return run_event("COMPLETE", run_id=new_run_id(), job_name=job, namespace="exit")

    def at_exit():
        reset_emitter()  # the first emit of a fresh emitter, while the interpreter exits
        tracline.emit(event("at-exit"))

    atexit.register(at_exit)
    tracline.emit(event("main"))
""")


def test_events_emitted_while_the_interpreter_exits_are_delivered(tracline_home: Path) -> None:
    """Events emitted while the interpreter exits (from an atexit handler, by an emitter made
    there) reach the sinks as the others do — this test only waits for the deliverer."""
    root = tracline_home.parent
    done = subprocess.run([sys.executable, "-c", EXITING], cwd=root, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    wait_delivered(load_config(), deliver=False)
    jobs = {json.loads(line)["job"]["name"]
            for line in (tracline_home / "events.jsonl").read_text().splitlines()}
    assert {"main", "at-exit"} <= jobs


def test_what_misses_the_deadline_is_delivered_by_the_next_deliverer(
        tracline_home: Path) -> None:
    """`tracline run` with inline delivery and no time for it returns at once; the
    long-lived deliverer delivers the run (this test only waits)."""
    root = tracline_home.parent
    done = _cli(root, "run", "--", sys.executable, "-c", "pass",
                env={"TRACLINE__CAPTURE__DELIVER": "inline",
                     "TRACLINE__OUTBOX__FLUSH_TIMEOUT": "0"})
    assert done.returncode == 0, done.stderr
    wait_delivered(load_config(), deliver=False)
    states = [json.loads(line)["eventType"]
              for line in (tracline_home / "events.jsonl").read_text().splitlines()]
    assert states == ["START", "COMPLETE"]
