"""The digest value and its format."""

from __future__ import annotations

import hashlib

import blake3
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracline.errors import ValidationError
from tracline.hashing import Digest, digest_bytes, parse_digest

B3_EMPTY = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"


def test_digest_bytes_matches_blake3_and_sha256() -> None:
    """digest_bytes equals the blake3 package and hashlib, prefixed by the algorithm."""
    data = b"tracline" * 1000
    assert digest_bytes(data) == "blake3:" + blake3.blake3(data).hexdigest()
    assert digest_bytes(data, "sha256") == "sha256:" + hashlib.sha256(data).hexdigest()
    assert digest_bytes(b"") == f"blake3:{B3_EMPTY}"


def test_digest_bytes_threaded_for_large_input_is_the_same_value() -> None:
    """Multi-threaded blake3 on a large buffer gives the single-threaded value."""
    data = bytes(range(256)) * 20_000
    assert digest_bytes(data) == "blake3:" + blake3.blake3(data).hexdigest()


@given(st.binary(max_size=4096), st.sampled_from(["blake3", "sha256"]))
def test_parse_digest_round_trips(data: bytes, algorithm: str) -> None:
    """Every digest tracline produces parses back into its algorithm and hex."""
    text = digest_bytes(data, algorithm)
    assert parse_digest(text) == (algorithm, text.split(":", 1)[1])


@pytest.mark.parametrize(
    "text",
    [
        "",
        B3_EMPTY,
        f"md5:{B3_EMPTY}",
        f"blake3:{B3_EMPTY.upper()}",
        f"blake3:{B3_EMPTY[:-1]}",
        f"blake3:{B3_EMPTY}0",
        f"blake3: {B3_EMPTY[1:]}",
        f"sha256:{'g' * 64}",
    ],
)
def test_parse_digest_rejects_malformed(text: str) -> None:
    """Malformed digests raise ValidationError naming the field, with a hint."""
    with pytest.raises(ValidationError) as caught:
        parse_digest(text)
    assert caught.value.field in {"digest", "algorithm"}
    assert caught.value.hint


def test_digest_value_renders_and_validates() -> None:
    """Digest renders as algorithm:hex and refuses a hex of the wrong shape."""
    value = Digest("blake3", B3_EMPTY, 0, 1, "file")
    assert value.digest == str(value) == f"blake3:{B3_EMPTY}"
    with pytest.raises(ValidationError):
        Digest("blake3", "abc", 0, 1, "file")


def test_unknown_algorithm_is_refused() -> None:
    """Asking for an unsupported algorithm raises ValidationError on field 'algorithm'."""
    with pytest.raises(ValidationError) as caught:
        digest_bytes(b"x", "md5")
    assert caught.value.field == "algorithm"
