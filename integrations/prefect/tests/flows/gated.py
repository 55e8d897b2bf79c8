"""A gated flow for the lifecycle's conformance suite and the claim-reuse test: the gate
attaches to a request filed beforehand; the work appends a line to ``marker`` (and, asked to
overrun, starts the suite's child process and outlives its approved time)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tracline.testing import OVERRUN_CHILD
from tracline_prefect import ApprovalGate, flow, task

approval = ApprovalGate("conformance", request_id="{request_id}")


@task
def work(marker: str, fail: bool, overrun: bool = False) -> str:
    """The gated work: leaves a mark, then fails or overruns if asked to."""
    with open(marker, "a") as out:
        out.write("ran\n")
    if overrun:  # runs until the approved time limit stops it
        subprocess.run([sys.executable, "-c", OVERRUN_CHILD, marker], check=True)
        time.sleep(3600)
    if fail:
        raise RuntimeError("the gated work failed, as asked")
    return marker


@task
def flaky(flag: str) -> None:
    """Fails the first time (when ``flag`` does not exist yet), then passes."""
    if flag and not Path(flag).exists():
        Path(flag).write_text("failed once\n")
        raise RuntimeError("a step after the gate failed once")


@flow(persist_result=True, retries=1, retry_delay_seconds=0)
def gated(request_id: str, marker: str, fail: bool = False, flaky_flag: str = "",
          overrun: bool = False) -> str:
    """Wait for the request, then do the work under its claim."""
    claim = approval.wait()
    flaky(flaky_flag)
    return approval.capped(work, claim)(marker, fail, overrun)
