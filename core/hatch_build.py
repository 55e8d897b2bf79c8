"""Build capture's file-access interposer into the wheel.

``tracline/capture/_preload.c`` compiles to ``_preload.so``, a plain shared library (no Python
API, so one build serves every Python) that ``tracline run`` and in-process captures preload
(``LD_PRELOAD``) to see every file a process tree opens, native code included (see
``docs/capture.md``). It is optional: where no C compiler is found the wheel is pure Python and
capture falls back to audit hooks and strace (it then sees less: ``tracline doctor`` says what),
with a warning here. ``TRACLINE_BUILD_EXTENSION=0`` skips it; ``=require`` makes a failed build
an error.

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

SOURCE = "src/tracline/capture/_preload.c"
TARGET = "tracline/capture/_preload.so"


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
    """Adds the compiled interposer to wheels (standard and editable)."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        setting = os.environ.get("TRACLINE_BUILD_EXTENSION", "1").lower()
        if self.target_name != "wheel" or setting in {"0", "false", "no", "off"}:
            return
        if not sys.platform.startswith("linux"):
            return  # LD_PRELOAD of a library built for glibc's names: Linux only
        root = Path(self.root)
        if version == "editable":
            built = root / "src" / TARGET
        else:
            built = Path(tempfile.mkdtemp(prefix="tracline-ext-")) / "_preload.so"
        try:
            compile_library(root / SOURCE, built)
        except (OSError, RuntimeError) as e:
            if setting == "require":
                raise
            self.app.display_warning(
                f"tracline: the capture interposer was not built ({e}); capture falls back to "
                "audit hooks and strace, which do not see files opened by native code")
            return
        if version != "editable":
            build_data["force_include"][str(built)] = TARGET
        build_data["pure_python"] = False
        platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
        build_data["tag"] = f"py3-none-{platform}"
