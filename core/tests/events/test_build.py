"""The builder checks each event's producer once, and leaves attrs' validators as it found
them for every other thread."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from typing import Any

import attrs
import pytest
from openlineage.client.serde import Serde

from tracline.events import Artifact, run_event

SEEN = """
import attrs
from tracline.events import Artifact, run_event

class Seen(Artifact):
    checks: list = []

    def as_input(self, producer=None):
        Seen.checks.append(attrs.validators.get_disabled())
        return super().as_input(producer)
"""


class Seen(Artifact):
    """An input that notes whether attrs validators were off while it was built."""

    checks: list[bool] = []

    def as_input(self, producer: str | None = None) -> Any:
        Seen.checks.append(attrs.validators.get_disabled())
        return super().as_input(producer)


def build(*inputs: Artifact, producer: str = "https://example.com/p") -> dict[str, Any]:
    event = run_event("COMPLETE", run_id="01890a5d-ac96-774b-bcce-b302099a8057", job_name="j",
                      namespace="n", inputs=inputs, event_time="2026-12-07T00:00:00+00:00",
                      producer=producer)
    return Serde.to_dict(event)


def test_alone_the_datasets_skip_the_repeated_url_checks() -> None:
    """In a process with one thread the datasets are built with validators off, which are on
    again afterwards, and the event is the same as one built with them on."""
    script = SEEN + textwrap.dedent("""
        from openlineage.client.serde import Serde
        args = dict(run_id="01890a5d-ac96-774b-bcce-b302099a8057", job_name="j",
                    namespace="n", event_time="2026-12-07T00:00:00+00:00")
        fast = Serde.to_dict(run_event("COMPLETE", inputs=[Seen.file("/a", "blake3:" + "a" * 64,
                                                                     1)], **args))
        attrs.validators.set_disabled(True)  # the same, built by someone who turned them off
        slow = Serde.to_dict(run_event("COMPLETE", inputs=[Artifact.file("/a", "blake3:"
                                                                         + "a" * 64, 1)],
                                       **args))
        assert attrs.validators.get_disabled() is True
        print(Seen.checks, fast == slow)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["[True]", "True"]


def test_beside_another_thread_validators_stay_on() -> None:
    """While another thread runs, the builder never turns validators off (the switch is
    process-wide)."""
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        Seen.checks.clear()
        build(Seen.file("/a", "blake3:" + "a" * 64, 1), Seen.file("/b"))
    finally:
        stop.set()
        other.join()
    assert Seen.checks == [False, False]
    assert attrs.validators.get_disabled() is False


def test_a_producer_that_is_no_url_is_still_refused() -> None:
    """The event still checks the producer its datasets carry: one that does not parse as a
    URL fails the build."""
    with pytest.raises(ValueError, match="IPv6"):
        build(Artifact.file("/a", "blake3:" + "a" * 64, 1), producer="http://[oops")
    assert attrs.validators.get_disabled() is False
