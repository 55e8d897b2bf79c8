"""Build tracline's one C extension, capture's speedups, into the wheel.

``tracline/_speedups.c`` compiles to one ``abi3`` library (CPython's limited API), so a
wheel built with it serves every CPython from 3.11 on. It is optional: where no C compiler or
Python headers are found the wheel is pure Python and capture runs the same hook in Python
(the same records, slower on programs that open many files), with a warning here.
``TRACLINE_BUILD_EXTENSION=0`` skips it; ``=require`` makes a failed build an error.

An editable install builds it in place, next to its source, which is what the installed
project imports from.
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

SOURCE = "src/tracline/_speedups.c"
TARGET = "tracline/_speedups.abi3.so"


def compile_extension(source: Path, target: Path) -> None:
    """Compile and link ``source`` into the shared library ``target`` (raises on failure)."""
    link = shlex.split(os.environ.get("LDSHARED") or sysconfig.get_config_var("LDSHARED")
                       or "cc -shared")
    shared = shlex.split(sysconfig.get_config_var("CCSHARED") or "-fPIC")
    include = sysconfig.get_paths()["include"]
    if not Path(include, "Python.h").exists():
        raise RuntimeError(f"no Python.h in {include} (install this Python's headers, "
                           "e.g. Debian's python3-dev)")
    target.parent.mkdir(parents=True, exist_ok=True)
    command = [*link, *shared, "-O2", "-Wall", "-pthread", "-fvisibility=hidden", f"-I{include}",
               str(source), "-o", str(target)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr.strip()}")


class CustomBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    """Adds the compiled hook to wheels (standard and editable)."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        setting = os.environ.get("TRACLINE_BUILD_EXTENSION", "1").lower()
        if self.target_name != "wheel" or setting in {"0", "false", "no", "off"}:
            return
        if sys.platform == "win32" or sys.implementation.name != "cpython":
            return
        root = Path(self.root)
        if version == "editable":
            built = root / "src" / TARGET
        else:
            built = Path(tempfile.mkdtemp(prefix="tracline-ext-")) / "_speedups.abi3.so"
        try:
            compile_extension(root / SOURCE, built)
        except (OSError, RuntimeError) as e:
            if setting == "require":
                raise
            self.app.display_warning(
                f"tracline: the capture hook's C part was not built ({e}); capture uses the "
                "Python hook")
            return
        if version != "editable":
            build_data["force_include"][str(built)] = TARGET
        platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
        build_data["pure_python"] = False
        build_data["tag"] = f"cp311-abi3-{platform}"
