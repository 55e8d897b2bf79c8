"""Planted secrets never reach events, logs, the outbox or the registry."""

from __future__ import annotations

from pathlib import Path

from .conftest import Run
from .helpers import PYTHON, last, write

AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
GITHUB = "ghp_" + "A1b2C3d4E5f6G7h8I9j0" * 2
OPENAI = "sk-proj-" + "Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2"
HF = "hf_" + "QwErTyUiOpAsDfGhJkLzXcVbNm12"
PASSWORD = "hunter2-correct-horse"
DB_PASSWORD = "pg-s3cr3t-pw"
SECRETS = [AWS_KEY_ID, AWS_SECRET, GITHUB, OPENAI, HF, PASSWORD, DB_PASSWORD]

SCRIPT = """
import os, subprocess, sys
open("out.txt", "w").write(open("in.txt").read())
subprocess.run(["bash", "-c", "cat in.txt > shell_out.txt"], check=True)
print("done", file=sys.stderr)
"""


def _all_bytes(root: Path) -> dict[str, bytes]:
    """Every file tracline left in its home (outbox with WAL, JSON lines, registry, caches)."""
    return {str(p): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_secrets_in_env_and_argv_are_never_recorded(tracline_run: Run, tracline_home: Path) -> None:
    """Secrets planted in the environment and on the command line appear in no stored byte."""
    root = tracline_home.parent
    write(root / "in.txt", "data")
    write(root / "job.py", SCRIPT)
    env = {
        "AWS_ACCESS_KEY_ID": AWS_KEY_ID, "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
        "GITHUB_TOKEN": GITHUB, "OPENAI_API_KEY": OPENAI, "HF_TOKEN": HF,
        "PGPASSWORD": DB_PASSWORD, "TORCH_HOME_URL": f"https://bob:{PASSWORD}@example.com/x",
    }
    done = tracline_run(
        "--", PYTHON, "job.py", "--password", PASSWORD, f"--token={GITHUB}",
        f"AWS_SECRET_ACCESS_KEY={AWS_SECRET}", OPENAI, f"postgresql://me:{DB_PASSWORD}@db/x",
        "--api-key", HF, env=env,
    )
    assert done.returncode == 0, done.stderr
    event = last(tracline_home, "job.py")
    assert event["outputs"], "the run was recorded"
    argv = event["run"]["facets"]["tracline_execution"]["argv"]
    assert argv[2:4] == ["--password", "***"]
    assert "postgresql://me:***@db/x" in argv
    stored = _all_bytes(tracline_home)
    assert any(name.endswith("outbox.db") for name in stored)
    assert any(name.endswith("tracline.db") for name in stored)
    for secret in SECRETS:
        for name, data in stored.items():
            assert secret.encode() not in data, f"{secret} found in {name}"
        assert secret not in done.stderr


def test_allow_listed_variable_with_secret_value_is_redacted(
    tracline_run: Run, tracline_home: Path
) -> None:
    """An allow-listed variable keeps its name but a credential-shaped value is replaced."""
    root = tracline_home.parent
    write(root / "noop.py", "pass\n")
    done = tracline_run("--", PYTHON, "noop.py",
                        env={"HF_TOKEN": HF, "HF_ENDPOINT": f"https://u:{PASSWORD}@hf.example",
                             "CUDA_VISIBLE_DEVICES": "0,1"})
    assert done.returncode == 0, done.stderr
    environment = last(tracline_home)["run"]["facets"]["tracline_execution"]["environment"]
    assert environment["HF_TOKEN"] == "***"
    assert environment["HF_ENDPOINT"] == "https://u:***@hf.example"
    assert environment["CUDA_VISIBLE_DEVICES"] == "0,1"


#: Planted values, one per argv form that names no secret in a long option.
SHORT_FORMS = {
    "sshpass": ["sshpass", "-p", "sshpass-pw-11aa", "true"],
    "mysql": ["mysql", "-u", "root", "-pmysql-pw-22bb", "db"],
    "generic -p": ["tool", "-p", "generic-pw-33cc"],
    "curl -u": ["curl", "-u", "alice:curl-pw-44dd", "https://example.invalid"],
    "curl -H": ["curl", "-H", "X-Api-Key: header-key-55ee", "https://example.invalid"],
    "in a shell": ["sh", "-c", "sshpass -p shell-pw-66ff true && mysql -pshell-my-77gg db && "
                   "curl -u bob:shell-curl-88hh -H 'X-Api-Key: shell-key-99ii' u"],
}
PLANTED = ["sshpass-pw-11aa", "mysql-pw-22bb", "generic-pw-33cc", "curl-pw-44dd",
           "header-key-55ee", "shell-pw-66ff", "shell-my-77gg", "shell-curl-88hh",
           "shell-key-99ii"]


def test_short_flag_and_header_secrets_are_never_recorded(tracline_run: Run,
                                                          tracline_home: Path) -> None:
    """`-p pw`, `-ppw`, `sshpass -p pw`, `mysql -ppw`, `curl -u user:pw` and `-H "X-Api-Key:
    ..."`, run as real commands (and inside a shell): no planted value is in any byte of the
    outbox, the registry or the JSON-lines sink, and the runs are recorded."""
    import os

    root = tracline_home.parent
    stubs = root / "bin"
    stubs.mkdir()
    for name in ("sshpass", "mysql", "tool", "curl"):
        stub = stubs / name
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755)
    env = {"PATH": f"{stubs}{os.pathsep}{os.environ['PATH']}"}
    for form, argv in SHORT_FORMS.items():
        done = tracline_run("--job", form.replace(" ", "_"), "--", *argv, env=env)
        assert done.returncode == 0, (form, done.stderr)
        last(tracline_home, form.replace(" ", "_"))  # recorded
    stored = _all_bytes(tracline_home)
    assert any(name.endswith("outbox.db") for name in stored)
    assert any(name.endswith("tracline.db") for name in stored)
    assert any(name.endswith("events.jsonl") for name in stored)
    for secret in PLANTED:
        for name, data in stored.items():
            assert secret.encode() not in data, f"{secret} found in {name}"
