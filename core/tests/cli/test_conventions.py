"""What every command shares: --json (errors included), one clear error line, run ids that
are run ids, digests named whole, help and version without loading the commands."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import click
import pytest

from tracline.cli import COMMANDS, main
from tracline.cli._app import app
from tracline.config import reset_config

REQUEST = ["request", "file", "--title", "Fine-tune the cat classifier",
           "--requester", "agent:trainer", "--project", "vision",
           "--dataset", "s3://datasets/cats@sha256:" + "a" * 64,
           "--gpu", "H100", "--gpus", "1", "--hours", "20", "--budget", "300",
           "--rationale", "Accuracy plateaued.", "--reviewer", "user:chris"]


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    code, out, err = cli(capsys, *args, "--json")
    assert code == 0, err + out
    return json.loads(out)


def leaves(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, click.Command]]:
    """Every runnable command under ``group``, with its path."""
    ctx = click.Context(group)
    found = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        if isinstance(command, click.Group):
            found += leaves(command, (*path, name))
        else:
            found.append((" ".join((*path, name)), command))
    return found


def test_every_command_takes_json() -> None:
    """Each command and subcommand has a --json flag."""
    missing = [name for name, command in leaves(app)
               if "--json" not in {o for p in command.params for o in p.opts}]
    assert missing == [], missing


def test_run_json_adds_one_line_after_the_command_s_output(tracline_home: Path) -> None:
    """`run --json` leaves the command's output and exit code alone and adds one last line
    of JSON: the run, its exit code, the files it read and wrote with their digests; a
    command that cannot start is a JSON error."""
    (tracline_home.parent / "in.txt").write_text("rooms,price\n")
    step = "print('hello'); open('out.txt', 'w').write(open('in.txt').read()); exit(3)"
    done = subprocess.run([sys.executable, "-m", "tracline", "run", "--json", "--job", "step",
                           "--", sys.executable, "-c", step], capture_output=True, text=True,
                          cwd=tracline_home.parent, timeout=300)
    assert done.returncode == 3, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "hello"
    ran = json.loads(lines[-1])
    assert ran["job"] == "step" and ran["exit_code"] == 3 and uuid.UUID(ran["run_id"])
    assert [Path(f["path"]).name for f in ran["outputs"]] == ["out.txt"]
    assert "in.txt" in {Path(f["path"]).name for f in ran["inputs"]}
    assert all(f["digest"] for f in ran["inputs"] + ran["outputs"])
    missing = subprocess.run([sys.executable, "-m", "tracline", "run", "--json", "--",
                              "no-such-program-here"], capture_output=True, text=True,
                             cwd=tracline_home.parent, timeout=300)
    assert missing.returncode == 127, missing.stderr
    assert json.loads(missing.stdout)["error"]["type"] == "CommandNotFound"


def test_errors_are_json_when_json_is_asked(tracline_home: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """With --json a bad input gives a JSON error on stdout (type, message, hint), exit 2
    and nothing on stderr; without it, one plain line on stderr."""
    code, out, err = cli(capsys, "request", "show", "req-000000000000", "--json")
    error = json.loads(out)["error"]
    assert code == 2 and err == ""
    assert error["type"] == "NotFound" and "req-000000000000" in error["message"]
    assert error["exit_code"] == 2
    code, out, err = cli(capsys, "request", "show", "req-000000000000")
    assert code == 2 and out == "" and err.startswith("tracline: error: ")
    assert len(err.strip().splitlines()) == 1


def test_usage_errors_are_json_too(tracline_home: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A missing argument or an unknown option is a JSON error naming the fix."""
    code, out, _ = cli(capsys, "request", "show", "--json")
    error = json.loads(out)["error"]
    assert code == 2 and error["type"] == "UsageError"
    assert "REQUEST_ID" in error["message"] and "tracline request show --help" in error["hint"]
    code, out, _ = cli(capsys, "spend", "--by", "colour", "--json")
    assert code == 2 and "colour" in json.loads(out)["error"]["message"]


def test_decimal_hours_never_print_in_exponent_form(
        tracline_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """1 GPU for 20 hours shows as 20 GPU-h, in text and in JSON."""
    filed = cli_json(capsys, *REQUEST)
    _, out, _ = cli(capsys, "request", "show", filed["id"])
    assert "= 20 GPU-h" in out and "E+" not in out
    _, out, _ = cli(capsys, "request", "list")
    assert "1×H100×20h" in out


def test_claim_refuses_a_run_id_that_is_not_one(tracline_home: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """`request claim --run-id myrun-1` is refused before the store is touched, naming what a
    run id is; a UUID is accepted."""
    rid = cli_json(capsys, *REQUEST)["id"]
    cli_json(capsys, "request", "approve", rid, "--as", "user:chris")
    code, _, err = cli(capsys, "request", "claim", rid, "--run-id", "myrun-1")
    assert code == 2 and "--run-id: 'myrun-1' is not a run id (a UUID)" in err
    assert cli_json(capsys, "request", "show", rid)["state"] == "approved"
    run_id = str(uuid.uuid4())
    assert cli_json(capsys, "request", "claim", rid, "--run-id", run_id)["run_id"] == run_id


def test_digest_prefix_and_unknown_digest_are_named(
        tracline_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """approve --digest with part of the digest says so (not "changed at <filing time>"); a
    digest the request never had says that; one it had before an amendment names when."""
    filed = cli_json(capsys, *REQUEST)
    rid, digest = filed["id"], filed["digest"]
    code, _, err = cli(capsys, "request", "approve", rid, "--as", "user:chris",
                       "--digest", digest[:20])
    assert code == 2 and "is not a whole digest" in err and "changed" not in err
    code, _, err = cli(capsys, "request", "approve", rid, "--as", "user:chris",
                       "--digest", "sha256:" + "0" * 64)
    assert code == 2 and f"is not a digest {rid} has had" in err
    cli_json(capsys, "request", "amend", rid, "--budget", "310", "--as", "agent:trainer")
    code, _, err = cli(capsys, "request", "approve", rid, "--as", "user:chris",
                       "--digest", digest)
    assert code == 2 and "but it was amended at" in err
    assert cli_json(capsys, "request", "show", rid)["state"] == "pending"


def test_help_and_version_load_no_command(tmp_path: Path) -> None:
    """`tracline --help` lists every command from the table of one-line helps, importing
    none of their modules; `--version` imports neither them nor click."""
    probe = ("import sys, io, contextlib, json\n"
             "from tracline.cli import main\n"
             "out = io.StringIO()\n"
             "with contextlib.redirect_stdout(out):\n"
             "    main([sys.argv[1]])\n"
             "mods = sorted(m for m in sys.modules if m.startswith('tracline.cli._') "
             "and m != 'tracline.cli._app' or m in ('click', 'rich', 'sqlalchemy'))\n"
             "print(json.dumps([out.getvalue(), mods]))\n")
    results = {}
    for flag in ("--help", "--version"):
        done = subprocess.run([sys.executable, "-c", probe, flag], capture_output=True,
                              text=True, cwd=tmp_path, check=True)
        results[flag] = json.loads(done.stdout)
    text, loaded = results["--help"]
    assert loaded == ["click"]
    for name, (_, summary) in COMMANDS.items():
        assert f"  {name}" in text and summary in text.replace("\n", " ")
    text, loaded = results["--version"]
    assert text.startswith("tracline, version ") and loaded == []


def test_short_help_is_the_table_s(tracline_home: Path) -> None:
    """A loaded command's one-line help is the one `tracline --help` shows."""
    ctx = click.Context(app)
    for name, (_, summary) in COMMANDS.items():
        command = app.get_command(ctx, name)
        assert command is not None and command.get_short_help_str(200) == summary


def test_receipt_takes_json(tracline_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`receipt --json` is accepted (it was an error); with --format it must write a file."""
    code, out, _ = cli(capsys, "receipt", "nothing.bin", "--json")
    assert code == 2 and json.loads(out)["error"]["type"] == "NotFound"
    code, out, _ = cli(capsys, "receipt", "x", "--json", "--format", "markdown")
    assert code == 2 and "-o FILE" in json.loads(out)["error"]["hint"]


def test_outbox_requeue_and_init_take_json(tracline_home: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """`outbox requeue --json` says how many were requeued; `init --json` what it wrote, and
    a second init is refused with the way out."""
    assert cli_json(capsys, "outbox", "requeue") == {"requeued": 0, "sink": None}
    written = cli_json(capsys, "init", "--namespace", "vision")
    assert Path(written["written"]).name == "tracline.toml"
    reset_config()
    code, out, _ = cli(capsys, "init", "--json")
    assert code == 2 and "--force" in json.loads(out)["error"]["hint"]


def test_serve_json_says_where_it_listens(tracline_home: Path) -> None:
    """`serve --json --port 0` prints the address it listens on as one JSON object."""
    proc = subprocess.Popen([sys.executable, "-m", "tracline", "serve", "--port", "0",
                             "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=tracline_home.parent)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline()]
        while lines[-1] not in {"}\n", ""}:  # the object ends with its closing brace
            lines.append(proc.stdout.readline())
        data = json.loads("".join(lines))
        assert data["lineage_endpoint"] == data["url"] + "/api/v1/lineage"
        assert data["url"].startswith("http://127.0.0.1:") and not data["url"].endswith(":0")
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def test_request_file_quiet_prints_only_the_id(tracline_home: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """`request file -q` prints the id alone, for REQ=$(tracline request file -q ...)."""
    code, out, _ = cli(capsys, *REQUEST, "-q")
    assert code == 0 and out.strip().startswith("req-") and len(out.split()) == 1
    assert cli_json(capsys, "request", "show", out.strip())["title"] == REQUEST[3]


def test_the_json_error_in_docs_cli_is_what_prints(tracline_home: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """docs/cli.md's sample JSON error is the one `request show` prints for an unknown id."""
    page = (Path(__file__).parents[3] / "docs" / "cli.md").read_text()
    sample = json.loads(page.split("```json\n", 1)[1].split("```", 1)[0])
    _, out, _ = cli(capsys, "request", "show", "req-000000000000", "--json")
    assert json.loads(out.replace(str(tracline_home.parent), "/home/ada/quickstart")) == sample
