"""Build core's two C libraries into the wheel.

Both are plain shared libraries (no Python API, so one build serves every Python):

- ``tracline/capture/_preload.c`` compiles to ``_preload.so``, which ``tracline run`` and
  in-process captures preload (``LD_PRELOAD``) to see every file a process tree opens, native
  code included (see ``docs/capture.md``). Without it capture falls back to audit hooks and
  strace (it then sees less: ``tracline doctor`` says what).
- ``tracline/hashing/_listing.c`` compiles to ``_listing.so``, the directory walk's inner loop
  (list a folder, stat each entry), loaded with ctypes. Without it the same loop runs in
  Python, slower (see ``benchmarks/hashing.py``).

They are optional: where no C compiler is found the wheel is pure Python, with a warning
here. ``TRACLINE_BUILD_EXTENSION=0`` skips them; ``=require`` makes a failed build an error.

An editable install builds it in place, next to its source, which is what the installed
project loads.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

#: (source under the project, target in the package, what is lost without it).
LIBRARIES = (
    ("src/tracline/capture/_preload.c", "tracline/capture/_preload.so",
     "capture falls back to audit hooks and strace, which do not see files opened by native "
     "code"),
    ("src/tracline/hashing/_listing.c", "tracline/hashing/_listing.so",
     "directory walks run in Python, slower"),
)


def compile_library(source: Path, target: Path) -> None:
    """Compile and link ``source`` into the shared library ``target`` (raises on failure)."""
    compiler = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
    target.parent.mkdir(parents=True, exist_ok=True)
    command = [*compiler, "-shared", "-fPIC", "-O2", "-Wall", "-fvisibility=hidden",
               str(source), "-o", str(target), "-ldl"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr.strip()}")


class CustomBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    """Adds the compiled libraries to wheels (standard and editable)."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        setting = os.environ.get("TRACLINE_BUILD_EXTENSION", "1").lower()
        if self.target_name != "wheel" or setting in {"0", "false", "no", "off"}:
            return
        if not sys.platform.startswith("linux"):
            return  # built for glibc and Linux's stat: Linux only
        root = Path(self.root)
        built_any = False
        for source, target, without in LIBRARIES:
            if version == "editable":
                built = root / "src" / target
            else:
                built = Path(tempfile.mkdtemp(prefix="tracline-ext-")) / Path(target).name
            try:
                compile_library(root / source, built)
            except (OSError, RuntimeError) as e:
                if setting == "require":
                    raise
                self.app.display_warning(f"tracline: {target} was not built ({e}); {without}")
                continue
            if version != "editable":
                build_data["force_include"][str(built)] = target
            built_any = True
        if not built_any:
            return
        build_data["pure_python"] = False
        platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
        build_data["tag"] = f"py3-none-{platform}"
