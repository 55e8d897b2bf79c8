"""An event's canonical JSON: one text per event, whichever way the event arrives (the
registry keys events by it), orjson's where orjson can write it, the standard library's
otherwise."""

from __future__ import annotations

import json

import pytest
from event_corpus import corpus

from tracline.events import canonical_json, to_dict, to_json

CORPUS = corpus()


@pytest.mark.parametrize(("label", "event"), CORPUS, ids=[label for label, _ in CORPUS])
def test_one_text_per_event_with_the_event_in_it(label: str, event: object) -> None:
    """Built or read back from the outbox, an event gets the same text, and that text reads
    back as the event; compact and with sorted keys, as the standard library writes it
    (non-ASCII text kept as UTF-8)."""
    data = to_dict(event)
    text = canonical_json(data)
    assert canonical_json(json.loads(to_json(event))) == text
    assert json.loads(text) == data
    plain = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert text == plain


def test_text_orjson_cannot_write_is_written_by_the_standard_library() -> None:
    """A name that is not valid Unicode (kept as an escape), an integer beyond 64 bits: the
    same text as ``json.dumps``, every time."""
    for odd in ({"name": "/data/caf\udce9.csv"}, {"size": 2**70}):
        event = {"eventType": "COMPLETE", "inputs": [odd], "run": {"runId": "r"}}
        text = canonical_json(event)
        assert text == json.dumps(event, sort_keys=True, separators=(",", ":"))
        assert canonical_json(json.loads(text)) == text
    assert "\\udce9" in canonical_json({"name": "caf\udce9"})


def test_non_ascii_text_is_kept_as_utf8() -> None:
    text = canonical_json({"name": "/données/été.csv", "b": [1.5, None, True]})
    assert text == '{"b":[1.5,null,true],"name":"/données/été.csv"}'
