"""``[marquez]`` settings, web links, and the errors of asking a Marquez that is not there."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tracline.config import load_config
from tracline.errors import ConfigError
from tracline.marquez import marquez_settings, web_link


def _config(tmp_path: Path, text: str, **env: str):  # type: ignore[no-untyped-def]
    (tmp_path / "tracline.toml").write_text(text)
    return load_config(environ=env, cwd=tmp_path)


def test_url_defaults_to_the_marquez_sink(tmp_path: Path) -> None:
    """Without [marquez] url, the marquez sink's URL is where lineage is read back from."""
    config = _config(tmp_path, '[sinks.team]\ntype = "marquez"\nurl = "http://mq:5000/"\n')
    assert marquez_settings(config).url == "http://mq:5000"
    assert marquez_settings(config).web_url is None
    both = _config(tmp_path, '[marquez]\nurl = "http://read:5000"\nweb_url = "http://ui:3000"\n'
                   '[sinks.team]\ntype = "marquez"\nurl = "http://mq:5000"\n')
    assert (marquez_settings(both).url, marquez_settings(both).web_url) == (
        "http://read:5000", "http://ui:3000")
    assert marquez_settings(_config(tmp_path, "")).url is None


def test_bad_settings_are_named(tmp_path: Path) -> None:
    """A non-HTTP URL, an unknown key or a bad number says which and what to write."""
    with pytest.raises(ConfigError, match=r"\[marquez\] web_url = 'mq:3000'.*not an http"):
        marquez_settings(_config(tmp_path, '[marquez]\nweb_url = "mq:3000"\n'))
    with pytest.raises(ConfigError, match="unknown key 'urll' in \\[marquez\\]"):
        marquez_settings(_config(tmp_path, '[marquez]\nurll = "http://x"\n'))
    with pytest.raises(ConfigError, match="timeout"):
        marquez_settings(_config(tmp_path, '[marquez]\ntimeout = "soon"\n'))


def test_web_links_name_the_node() -> None:
    """A dataset's and a job's pages in Marquez's web UI, names escaped."""
    assert web_link("http://ui:3000", "dataset", "file", "/data/b.parquet") == \
        "http://ui:3000/lineage/dataset/file/%2Fdata%2Fb.parquet"
    assert web_link("http://ui:3000", "job", "ml", "train_pipeline.train") == \
        "http://ui:3000/lineage/job/ml/train_pipeline.train"


def _tracline(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACLINE", "OPENLINEAGE"))}
    return subprocess.run([sys.executable, "-m", "tracline", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_from_marquez_without_or_with_an_unreachable_marquez(tmp_path: Path) -> None:
    """`--from marquez` with none configured, or one that does not answer, is one clear
    line and exit 2 — never a traceback."""
    (tmp_path / "model.bin").write_bytes(b"weights")
    missing = _tracline(tmp_path, "trace", "model.bin", "--from", "marquez")
    assert missing.returncode == 2, missing.stderr
    assert "no Marquez is configured" in missing.stderr and "[marquez] url" in missing.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    (tmp_path / "tracline.toml").write_text(f'[marquez]\nurl = "http://127.0.0.1:{port}"\n')
    down = _tracline(tmp_path, "receipt", "model.bin", "--from", "marquez")
    assert down.returncode == 2, down.stderr
    assert f"Marquez at http://127.0.0.1:{port} could not answer" in down.stderr
    assert "Traceback" not in down.stderr
    auto = _tracline(tmp_path, "trace", "model.bin")  # unknown locally, then Marquez is down
    assert auto.returncode == 2 and "could not answer" in auto.stderr, auto.stderr
