"""Headless Chromium for tests of web pages: Playwright driving the system's browser.

Debian's ``chromium`` (``scripts/system-deps.sh`` installs it); no browser is downloaded.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["CHROMIUM_FLAGS", "chromium"]

#: Flags that keep a headless Chromium quiet and self-contained in a sandboxed CI.
CHROMIUM_FLAGS = ("--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync")


@contextmanager
def chromium(executable: str = "/usr/bin/chromium") -> Iterator[Any]:
    """A fresh browser context (its own profile folder), closed afterwards."""
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="tracline-chromium-")
    try:
        with sync_playwright() as p:
            context = p.chromium.launch_persistent_context(
                profile, executable_path=executable, headless=True, args=list(CHROMIUM_FLAGS))
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
