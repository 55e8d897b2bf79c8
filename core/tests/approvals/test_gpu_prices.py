"""The GPU price table: built-in rows, names as NVML writes them, overrides, errors."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from tracline.config import Config
from tracline.errors import ConfigError, ValidationError
from tracline.gpu import BUILTIN_PRICES, known_models, normalize_model, price_for

REQUIRED = ["H100", "H200", "A100-80GB", "A100-40GB", "L4", "A10G", "T4", "V100"]


def test_builtin_rows_have_price_source_and_date() -> None:
    """Every required model has a positive USD price with a source and an as-of date."""
    for model in REQUIRED:
        price = BUILTIN_PRICES[model]
        assert price.per_gpu_hour > 0
        assert price.currency == "USD"
        assert price.source.strip()
        assert isinstance(price.as_of, dt.date)


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("NVIDIA H100 80GB HBM3", "H100"),
        ("h100", "H100"),
        ("NVIDIA A100-SXM4-80GB", "A100-80GB"),
        ("NVIDIA A100-SXM4-40GB", "A100-40GB"),
        ("Tesla T4", "T4"),
        ("Tesla V100-SXM2-16GB", "V100"),
        ("NVIDIA A10G", "A10G"),
        ("NVIDIA L4", "L4"),
        ("NVIDIA H200", "H200"),
    ],
)
def test_names_as_people_and_nvml_write_them_map_to_rows(name: str, model: str) -> None:
    """GPU names from NVML and from people resolve to the same price row."""
    assert normalize_model(name) == model
    assert price_for(name).model == model


def test_unknown_model_names_the_known_ones() -> None:
    """An unknown GPU model is a ValidationError on gpu_model listing every known model."""
    with pytest.raises(ValidationError) as info:
        price_for("K80")
    assert info.value.field == "gpu_model"
    assert all(model in str(info.value) for model in REQUIRED)
    assert "[prices.K80]" in str(info.value)


def test_plain_a100_is_ambiguous() -> None:
    """'A100' without memory size is refused, since two rows could be meant."""
    with pytest.raises(ValidationError, match="A100-80GB"):
        price_for("A100")


def test_config_overrides_and_extends_the_table() -> None:
    """[prices.H100] overrides a row and [prices.MI300X] adds a model, with source and date."""
    config = Config(sections={"prices": {
        "h100": {"per_gpu_hour": 2.49, "source": "reserved contract", "as_of": "2025-01-31"},
        "MI300X": {"per_gpu_hour": "3.10", "currency": "EUR", "as_of": dt.date(2025, 2, 1)},
    }})
    h100 = price_for("NVIDIA H100 80GB HBM3", config)
    assert (h100.per_gpu_hour, h100.source, h100.as_of) == (
        Decimal("2.49"), "reserved contract", dt.date(2025, 1, 31))
    mi = price_for("mi300x", config)
    assert (mi.per_gpu_hour, mi.currency, mi.source) == (Decimal("3.10"), "EUR", "tracline.toml")
    assert "MI300X" in known_models(config)
    assert price_for("T4", config) == BUILTIN_PRICES["T4"]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"per_gpu_hour": -1, "as_of": "2025-01-01"}, "not a positive number"),
        ({"per_gpu_hour": "cheap", "as_of": "2025-01-01"}, "not a positive number"),
        ({"as_of": "2025-01-01"}, "not a positive number"),
        ({"per_gpu_hour": 2}, "not a date"),
        ({"per_gpu_hour": 2, "as_of": "yesterday"}, "not a date"),
        ({"per_gpu_hour": 2, "as_of": "2025-01-01", "currency": "dollars"}, "ISO 4217"),
        ({"per_gpu_hour": 2, "as_of": "2025-01-01", "cost": 3}, "unknown key 'cost'"),
    ],
)
def test_bad_price_rows_are_config_errors(row: dict[str, object], message: str) -> None:
    """A malformed [prices.X] row is a ConfigError naming the table and what is wrong."""
    with pytest.raises(ConfigError, match=message) as info:
        price_for("H100", Config(sections={"prices": {"H100": row}}))
    assert "[prices.H100]" in str(info.value)


def test_a_price_that_is_not_a_table_is_refused() -> None:
    """prices.H100 = 2.0 (not a table) is a ConfigError with the right syntax as hint."""
    with pytest.raises(ConfigError, match=r"\[prices.H100\]"):
        price_for("T4", Config(sections={"prices": {"H100": 2.0}}))
