"""No registry URL password reaches a message: errors and answers name the database with its
password shown as ***."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tracline.db import display_url
from tracline.testing.plugin import require_service

SECRET = "s3cret-Pw"


def test_display_url_hides_every_password() -> None:
    """The password goes, wherever the URL stands in a text; the rest of the URL stays."""
    assert display_url(f"postgresql://ada:{SECRET}@db.example:5432/lineage") == \
        "postgresql://ada:***@db.example:5432/lineage"
    said = display_url(f"cannot open postgresql+psycopg://ada:{SECRET}@h/x: refused; "
                       f"Marquez at http://ml:{SECRET}@marquez:5000 too")
    assert SECRET not in said and "ada:***@h/x" in said and "ml:***@marquez:5000" in said
    assert display_url("sqlite:////tmp/a:b@c/tracline.db") == "sqlite:////tmp/a:b@c/tracline.db"
    assert display_url("postgresql://ada@h/x") == "postgresql://ada@h/x"


def _tracline(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACLINE")}
    env |= {"TRACLINE_HOME": str(tmp_path / "home"), "TRACLINE_REGISTRY_URL": url}
    return subprocess.run([sys.executable, "-m", "tracline.cli", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


def _password(url: str) -> str:
    from sqlalchemy.engine import make_url

    password = make_url(url).password
    assert password, f"the test database URL has no password: {display_url(url)}"
    return str(password)


def test_lookup_errors_hide_the_password(tmp_path: Path) -> None:
    """A lookup the registry cannot answer names it without its password, on a real
    PostgreSQL: an unknown digest, an unknown run, and a registry refusing the password."""
    url = require_service("TRACLINE_TEST_PG_URL", "PostgreSQL")
    password = _password(url)
    unknown = _tracline(tmp_path, url, "trace", "sha256:" + "0" * 64)
    assert unknown.returncode == 2, unknown.stderr
    assert "registry at postgresql" in unknown.stderr and ":***@" in unknown.stderr
    assert f":{password}@" not in unknown.stderr + unknown.stdout
    run = _tracline(tmp_path, url, "diff", "0" * 8, "1" * 8)
    assert run.returncode == 2 and ":***@" in run.stderr, run.stderr
    assert f":{password}@" not in run.stderr + run.stdout
    wrong = url.replace(f":{password}@", f":{SECRET}@")
    refused = _tracline(tmp_path, wrong, "trace", "sha256:" + "0" * 64, "--json")
    assert refused.returncode == 2 and "StoreError" in refused.stdout, refused.stderr
    assert SECRET not in refused.stdout + refused.stderr and ":***@" in refused.stdout


@pytest.mark.parametrize("url", [f"postgresql://ada:{SECRET}@localhost:notaport/x",
                                 f"nosuchdb://ada:{SECRET}@localhost/x"])
def test_bad_urls_are_named_without_the_password(tmp_path: Path, url: str) -> None:
    """A registry URL that cannot be used at all is reported without its password."""
    done = _tracline(tmp_path, url, "trace", "sha256:" + "0" * 64)
    assert done.returncode == 2 and "tracline: error:" in done.stderr, done.stderr
    assert SECRET not in done.stderr + done.stdout and "Traceback" not in done.stderr
