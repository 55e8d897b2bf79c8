"""Parsing what processes report (hook log, strace) and telling inputs, outputs and noise apart."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tracline.capture import IgnoreRules, glob_regex
from tracline.capture._classify import classify
from tracline.capture._hooks import escape
from tracline.capture._observe import Observed, StraceParser, unescape
from tracline.errors import ConfigError

STRACE = r"""
101 execve("/usr/bin/bash", [...], 0x7ffc /* 42 vars */) = 0
101 openat(AT_FDCWD</w>, "/etc/ld.so.cache", O_RDONLY|O_CLOEXEC) = 3</etc/ld.so.cache>
101 clone(child_stack=NULL, flags=CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7f) = 102
102 openat(AT_FDCWD</w>, "b", O_WRONLY|O_CREAT|O_TRUNC, 0666) = 3</w/b>
102 openat(AT_FDCWD</w>, "a\303\251 x", O_RDONLY) = 3</w/a\303\251 x>
102 chdir("sub")                        = 0
102 rename("tmp", "final")             = 0
102 openat(AT_FDCWD</w/sub>, "log", O_WRONLY|O_APPEND <unfinished ...>
101 openat(AT_FDCWD</w>, "c", O_RDONLY) = 3</w/c>
102 <... openat resumed>)               = 4</w/sub/log>
102 unlinkat(AT_FDCWD</w/sub>, "gone", 0) = 0
102 unlinkat(AT_FDCWD</w/sub>, "dir", AT_REMOVEDIR) = 0
102 openat(AT_FDCWD</w>, ".", O_RDONLY|O_DIRECTORY) = 5</w>
101 +++ exited with 0 +++
"""


def test_strace_lines_fold_into_accesses() -> None:
    """strace -f -y output gives reads, writes, renames (relative to the pid's cwd) and removals."""
    observed = Observed()
    StraceParser(observed, "/w").feed(STRACE.strip().splitlines())
    assert list(observed.reads) == ["/etc/ld.so.cache", "/w/a\u00e9 x", "/w/c"]
    assert list(observed.writes) == ["/w/b", "/w/sub/final", "/w/sub/log"]
    assert observed.renames == [("/w/sub/tmp", "/w/sub/final")]
    assert observed.removed == {"/w/sub/tmp", "/w/sub/gone"}
    assert "/usr/bin/bash" in observed.programs


def test_hook_records_round_trip() -> None:
    """Hook log fields survive tabs, newlines and backslashes in paths."""
    weird = "/w/a\tb\nc\\d"
    observed = Observed()
    assert observed.feed_hook_line(f"R\t7\t{escape(weird)}") == weird
    observed.feed_hook_line(f"N\t7\t{escape('/w/x')}\t{escape(weird + '2')}")
    assert unescape(escape(weird)) == weird
    assert list(observed.reads) == [weird]
    assert observed.renames == [("/w/x", weird + "2")]


def test_read_after_write_is_not_an_input(tmp_path: Path) -> None:
    """A file the run created and read back is an output only; a renamed temp file is neither."""
    for name in ("made", "final", "kept"):
        (tmp_path / name).write_text(name)
    observed = Observed()
    observed.access("W", str(tmp_path / "made"))
    observed.access("R", str(tmp_path / "made"))
    observed.access("R", str(tmp_path / "kept"))
    observed.access("W", str(tmp_path / "tmp"))
    observed.rename(str(tmp_path / "tmp"), str(tmp_path / "final"))
    rules = IgnoreRules.build(cwd=str(tmp_path), home=str(tmp_path / ".tracline"))
    result = classify(observed, rules)
    assert result.inputs == [str(tmp_path / "kept")]
    assert sorted(result.outputs) == [str(tmp_path / "final"), str(tmp_path / "made")]


@pytest.mark.parametrize(("path", "ignored"), [
    ("/usr/lib/python3.11/os.py", True),
    ("/proc/self/status", True),
    ("/etc/hosts", True),
    ("{cwd}/.git/HEAD", True),
    ("{cwd}/.tracline/outbox.db", True),
    ("{cwd}/pkg/__pycache__/m.cpython-311.pyc", True),
    ("{cwd}/train.py", True),
    ("{cwd}/data/raw.csv", False),
    ("{home}/.cache/pip/x", True),
    ("{home}/.cache/huggingface/hub/models--x/snapshots/abc/model.safetensors", False),
    ("/tmp/tmpab12cd_9/scratch.bin", True),
    ("/tmp/pymp-x1y2/listener", True),
    ("/dev/shm/torch_123", True),
    ("/tmp/checkout/data/raw.csv", False),
    ("{cwd}/logs/run.log", True),
    ("{cwd}/keep/run.log", False),
])
def test_ignore_rules(tmp_path: Path, path: str, ignored: bool) -> None:
    """System, cache, temp, VCS, code and tracline files are noise; user globs extend it."""
    cwd = tmp_path / "project"
    cwd.mkdir()
    rules = IgnoreRules.build(cwd=str(cwd), home=str(cwd / ".tracline"),
                              argv=["python", "train.py"], ignore=["*.log"],
                              keep=["keep/*.log"])
    full = path.format(cwd=cwd, home=os.path.expanduser("~"))
    assert rules.ignored(full) is ignored


def test_temp_file_named_on_the_command_line_counts(tmp_path: Path) -> None:
    """A file in a tempfile-made folder is scratch, unless the command line names it as data."""
    import shutil
    import tempfile

    scratch = tempfile.mkdtemp()
    try:
        given, other = f"{scratch}/given.csv", f"{scratch}/other.csv"
        rules = IgnoreRules.build(cwd=str(tmp_path / "p"), home=str(tmp_path / "h"),
                                  argv=["python", "x.py", f"--data={given}"])
        assert not rules.ignored(given)
        assert rules.ignored(other)
    finally:
        shutil.rmtree(scratch)


def test_python_prefixes_are_ignored(tmp_path: Path) -> None:
    """What an interpreter reads under its own prefix and site folders is noise."""
    from tracline.capture._observe import PythonProcess

    rules = IgnoreRules.build(cwd=str(tmp_path), home=str(tmp_path / ".tracline"))
    rules.add_python(PythonProcess(1, "/opt/venv/bin/python", "cpython", "3.11.7", "/opt/venv",
                                   "/opt/py", [str(tmp_path), "/opt/venv/lib/site-packages"]))
    assert rules.ignored("/opt/venv/lib/site-packages/numpy/core.so")
    assert rules.ignored("/opt/py/lib/python3.11/json/decoder.py")
    assert not rules.ignored(str(tmp_path / "data.csv"))


@pytest.mark.parametrize(("pattern", "path", "matches"), [
    ("*.log", "/w/a/b.log", True),
    ("*.log", "/w/a/b.log.gz", False),
    ("scratch/**", "/w/scratch/x/y", True),
    ("scratch/**", "/w/other/scratch/x", False),
    ("/data/tmp/**", "/data/tmp/a", True),
    ("cache/", "/w/a/cache/x", True),
    ("cache/", "/w/cache", False),
    ("cache/", "/w/cache/x", True),
    ("**/ckpt/*.pt", "/w/a/b/ckpt/e1.pt", True),
])
def test_glob_patterns(pattern: str, path: str, matches: bool) -> None:
    """Glob semantics: bare names anywhere, slashed patterns from the working directory."""
    import re

    assert bool(re.fullmatch(glob_regex(pattern, "/w"), path)) is matches


def test_bad_ignore_pattern_is_a_config_error(tmp_path: Path) -> None:
    """A non-string ignore entry names the key and how to write it."""
    with pytest.raises(ConfigError, match=r"\[capture\] ignore"):
        IgnoreRules.build(cwd=str(tmp_path), home=str(tmp_path), ignore=[3])  # type: ignore[list-item]
