"""The test services' script on a machine without Java or Maven: not fatal, and it says why."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "devstack.sh"


def _path_without(tmp: Path, *missing: str) -> str:
    """A PATH with every command of this one but ``missing`` (links in one folder)."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        if not folder or not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            target = os.path.join(folder, name)
            if name in missing or (bin_dir / name).exists() or not os.access(target, os.X_OK):
                continue
            (bin_dir / name).symlink_to(target)
    return str(bin_dir)


@pytest.mark.skipif(shutil.which("bash") is None, reason="the script is a bash script")
def test_install_and_env_without_maven_or_java(tmp_path: Path) -> None:
    """Without mvn and java on PATH, installing the test services succeeds (PostgreSQL only),
    and the environment it prints tells the Marquez tests why they are skipped."""
    if not any(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        pytest.skip("PostgreSQL is not installed here (the script would install it)")
    env = {**os.environ, "PATH": _path_without(tmp_path, "mvn", "java"),
           "TRACLINE_CACHE": str(tmp_path / "cache"), "TRACLINE_STATE": str(tmp_path / "state")}
    assert shutil.which("mvn", path=env["PATH"]) is None
    assert shutil.which("java", path=env["PATH"]) is None
    install = subprocess.run(["bash", str(SCRIPT), "install"], env=env, capture_output=True,
                             text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    assert "Maven (mvn) is not on PATH" in install.stdout, install.stdout
    printed = subprocess.run(["bash", str(SCRIPT), "env"], env=env, capture_output=True,
                             text=True, timeout=60)
    assert printed.returncode == 0, printed.stderr
    lines = dict(line.removeprefix("export ").split("=", 1)
                 for line in printed.stdout.splitlines())
    assert "TRACLINE_TEST_MARQUEZ_URL" not in lines
    assert "Maven" in lines["TRACLINE_TEST_MARQUEZ_UNAVAILABLE"]
    assert "TRACLINE_TEST_PG_URL" in lines
