"""The package's public surface: what it exports, and what importing it loads."""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

import tracline.hashing
from tracline.hashing import Digest


def test_public_names_all_resolve() -> None:
    """Each name in ``__all__`` (the benchmark's settings included) loads from the package."""
    names = tracline.hashing.__all__
    assert {"DEFAULT_WORKERS", "SETTLE_NS"} <= set(names)
    for name in names:
        assert getattr(tracline.hashing, name) is not None
    assert tracline.hashing.DEFAULT_WORKERS >= 1
    assert tracline.hashing.SETTLE_NS > 0


def test_digesting_a_directory_loads_no_heavy_module(tmp_path: Path) -> None:
    """Importing the digest functions and digesting a directory without the stat cache loads
    neither attrs, dataclasses nor typing (a fresh interpreter checks)."""
    code = (
        "import sys\n"
        "from tracline.hashing import StatCache, digest_file, digest_path\n"
        f"digest_path({str(tmp_path)!r}, cache=False, workers=1)\n"
        "print(' '.join(m for m in ('attr', 'attrs', 'dataclasses', 'typing') "
        "if m in sys.modules))\n"
    )
    (tmp_path / "a.bin").write_bytes(b"a")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.split() == []


def test_digest_is_immutable_and_compares_by_value() -> None:
    """Two Digests with the same fields are equal and hash alike; setting a field fails."""
    hexdigest = "ab" * 32
    one = Digest("blake3", hexdigest, 3, 1, "file")
    assert one == Digest("blake3", hexdigest, 3, 1, "file")
    assert hash(one) == hash(Digest("blake3", hexdigest, 3, 1, "file"))
    assert one != Digest("blake3", hexdigest, 3, 2, "directory")
    assert "size=3" in repr(one)
    with pytest.raises(AttributeError):
        one.size = 4  # type: ignore[misc]


def test_digest_survives_pickle_and_copy() -> None:
    """A Digest pickled (as orchestrators pass results between processes) or deep-copied
    comes back equal."""
    one = Digest("sha256", "cd" * 32, 10, 4, "directory")
    assert pickle.loads(pickle.dumps(one)) == one
    assert copy.deepcopy(one) == one == copy.copy(one)
