"""Redaction of command lines, environments and free text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracline.capture import REDACTED, redact_argv, redact_env, redact_text

ALNUM = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                min_size=36, max_size=48)


@pytest.mark.parametrize(("argv", "expected"), [
    (["train", "--password", "pw1"], ["train", "--password", REDACTED]),
    (["train", "--db-password=pw1"], ["train", f"--db-password={REDACTED}"]),
    (["train", "--token", "t"], ["train", "--token", REDACTED]),
    (["train", "--api-key", "k", "--lr", "0.1"], ["train", "--api-key", REDACTED, "--lr", "0.1"]),
    (["env", "AWS_SECRET_ACCESS_KEY=abc", "x"], ["env", f"AWS_SECRET_ACCESS_KEY={REDACTED}", "x"]),
    (["train", "--max-tokens", "512", "--tokenizer", "bpe"],
     ["train", "--max-tokens", "512", "--tokenizer", "bpe"]),
    (["psql", "postgresql://me:pw@h/db"], ["psql", f"postgresql://me:{REDACTED}@h/db"]),
    (["bash", "-c", "X_TOKEN=abc run --password 'p w' --epochs 3"],
     ["bash", "-c", f"X_TOKEN={REDACTED} run --password {REDACTED} --epochs 3"]),
    (["sshpass", "-p", "pw1", "ssh", "host"], ["sshpass", "-p", REDACTED, "ssh", "host"]),
    (["mysql", "-u", "root", "-ppw1", "db"], ["mysql", "-u", "root", f"-p{REDACTED}", "db"]),
    (["/usr/bin/mysqldump", "-ppw1"], ["/usr/bin/mysqldump", f"-p{REDACTED}"]),
    (["tool", "-p", "pw1"], ["tool", "-p", REDACTED]),
    (["curl", "-u", "me:pw1", "https://h"], ["curl", "-u", f"me:{REDACTED}", "https://h"]),
    (["curl", "-ume:pw1", "--user=me:pw1"],
     ["curl", f"-ume:{REDACTED}", f"--user=me:{REDACTED}"]),
    (["curl", "-H", "X-Api-Key: k1", "-H", "Accept: json"],
     ["curl", "-H", f"X-Api-Key: {REDACTED}", "-H", "Accept: json"]),
    (["curl", "--header=Authorization: Basic abc"],
     ["curl", f"--header=Authorization: {REDACTED}"]),
    (["bash", "-c", "sshpass -p pw1 ssh h && mysql -ppw1 && curl -u me:pw1 -H 'X-Api-Key: k1' u"],
     ["bash", "-c", f"sshpass -p {REDACTED} ssh h && mysql -p{REDACTED} && curl -u me:{REDACTED}"
      f" -H 'X-Api-Key: {REDACTED}' u"]),
    # -p that is not a password: a flag, a port, a number, a path that exists
    (["mkdir", "-p", "out/a"], ["mkdir", "-p", "out/a"]),
    (["cp", "-p", "a", "b"], ["cp", "-p", "a", "b"]),
    (["ssh", "-p", "2222", "h"], ["ssh", "-p", "2222", "h"]),
    (["docker", "run", "-p", "8080:80", "img"], ["docker", "run", "-p", "8080:80", "img"]),
    (["train", "-p", "0.5"], ["train", "-p", "0.5"]),
    (["mysql", "-u", "root"], ["mysql", "-u", "root"]),
])
def test_redact_argv(argv: list[str], expected: list[str]) -> None:
    """Secrets named by an option or an assignment are replaced; ordinary options are kept."""
    assert redact_argv(argv) == expected


@given(st.sampled_from(["AKIA", "ASIA"]), st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
                                                 min_size=16, max_size=16))
def test_aws_key_ids_never_survive(prefix: str, body: str) -> None:
    """Any AWS access key id, anywhere in an argument, is replaced."""
    key = prefix + body
    assert key not in " ".join(redact_argv(["aws", f"--x={key}", f"id:{key};", key]))


@given(st.sampled_from(["ghp_", "gho_", "github_pat_", "sk-", "sk-proj-", "hf_", "xoxb-"]), ALNUM)
def test_tokens_never_survive(prefix: str, body: str) -> None:
    """GitHub, OpenAI, Hugging Face and Slack tokens are replaced wherever they appear."""
    token = prefix + body
    assert token not in redact_text(f"curl -H 'x: {token}' https://api/?t={token}")


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789!$%^*()", min_size=1, max_size=20))
def test_url_passwords_never_survive(password: str) -> None:
    """A URL's password is replaced, its user and host kept."""
    out = redact_text(f"see https://alice:{password}@example.com/path")
    assert out == f"see https://alice:{REDACTED}@example.com/path"


def test_redact_env_keeps_only_the_allow_list() -> None:
    """Only allow-listed variables are kept; secret-named ones lose their value."""
    env = {"PATH": "/bin", "HOME": "/root", "AWS_SECRET_ACCESS_KEY": "x", "SEED": "4",
           "CUDA_VISIBLE_DEVICES": "0", "HF_TOKEN": "hf_abc", "MY_FLAG": "1"}
    assert redact_env(env) == {"CUDA_VISIBLE_DEVICES": "0", "HF_TOKEN": REDACTED, "SEED": "4"}
    assert redact_env(env, ["MY_*"])["MY_FLAG"] == "1"


def test_private_keys_are_removed() -> None:
    """A PEM private key block is replaced as a whole."""
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----"
    assert redact_text(f"key={pem}") == f"key={REDACTED}"
