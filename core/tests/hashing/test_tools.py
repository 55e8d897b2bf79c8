"""Digests agree with the standard command-line tools (Debian's b3sum and coreutils)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tracline.hashing import digest_path

TOOLS = {"blake3": "b3sum", "sha256": "sha256sum"}

#: The shell recomputation of a directory digest given in docs/hashing.md.
RECOMPUTE = r"""
{ printf 'tracline-tree-v1\0'
  find . -type f -printf '%P\0' | LC_ALL=C sort -z |
    while IFS= read -r -d '' p; do
      h=$(TOOL < "$p"); printf 'f %s %s\0' "${h%% *}" "$p"
    done
} | TOOL
"""


def _tool(algorithm: str) -> str:
    found = shutil.which(TOOLS[algorithm])
    if found is None:
        pytest.skip(f"{TOOLS[algorithm]} is not installed (Debian package: {TOOLS[algorithm]})")
    return found


def _files(root: Path) -> list[Path]:
    sizes = [0, 1, 1024, 1025, 64 << 10, (1 << 20) + 1, (8 << 20) * 3 + 5]
    paths = []
    for size in sizes:
        path = root / f"f{size}"
        path.write_bytes((b"tracline\x00\xff" * (size // 10 + 1))[:size])
        paths.append(path)
    return paths


@pytest.mark.parametrize("algorithm", ["blake3", "sha256"])
def test_file_digests_match_the_cli(tmp_path: Path, algorithm: str) -> None:
    """Files of sizes around every read boundary hash as b3sum / sha256sum say."""
    tool = _tool(algorithm)
    for path in _files(tmp_path):
        out = subprocess.run([tool, str(path)], capture_output=True, text=True, check=True)
        assert digest_path(path, algorithm, cache=False).hex == out.stdout.split()[0], path.name


@pytest.mark.parametrize("algorithm", ["blake3", "sha256"])
def test_directory_digest_recomputes_in_the_shell(tmp_path: Path, algorithm: str) -> None:
    """The documented shell pipeline over the CLI tool gives tracline's directory digest."""
    tool = _tool(algorithm)
    root = tmp_path / "tree"
    (root / "data" / "deep").mkdir(parents=True)
    _files(root / "data")
    for rel in ["README", "data.txt", "data/deep/a b.csv", "Z"]:
        (root / rel).write_text(rel * 7)
    script = RECOMPUTE.replace("TOOL", tool)
    done = subprocess.run(
        ["bash", "-c", script], cwd=root, capture_output=True, text=True, check=True
    )
    assert digest_path(root, algorithm, cache=False).hex == done.stdout.split()[0]
