"""The GPU price table: price per GPU-hour by model, with its source and date.

Built-in rows are public on-demand list prices normalised to one GPU; a ``[prices.<model>]``
table in ``tracline.toml`` overrides a row or adds a model::

    [prices.H100]
    per_gpu_hour = 2.49
    currency = "USD"
    source = "our reserved contract"
    as_of = "2025-01-01"
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs

from tracline.config import Config
from tracline.errors import ConfigError, ValidationError

__all__ = ["BUILTIN_PRICES", "Price", "known_models", "normalize_model", "price_for"]


@attrs.frozen
class Price:
    """What one GPU of ``model`` costs per hour, where that figure comes from, and when."""

    model: str
    per_gpu_hour: Decimal
    currency: str
    source: str
    as_of: dt.date


def _row(model: str, per_gpu_hour: str, source: str, as_of: str) -> Price:
    return Price(model, Decimal(per_gpu_hour), "USD", source, dt.date.fromisoformat(as_of))


_AWS = "AWS EC2 on-demand, us-east-1"
#: Built-in prices: AWS list prices per instance-hour divided by the instance's GPU count.
BUILTIN_PRICES: dict[str, Price] = {
    p.model: p
    for p in (
        _row("H100", "12.29", f"{_AWS}, p5.48xlarge $98.32/h ÷ 8", "2024-06-01"),
        _row("H200", "5.408", "AWS EC2 Capacity Blocks, us-east-2, p5e.48xlarge $43.26/h ÷ 8",
             "2024-12-01"),
        _row("A100-80GB", "5.12", f"{_AWS}, p4de.24xlarge $40.97/h ÷ 8", "2024-06-01"),
        _row("A100-40GB", "4.10", f"{_AWS}, p4d.24xlarge $32.77/h ÷ 8", "2024-06-01"),
        _row("L4", "0.8048", f"{_AWS}, g6.xlarge (1 GPU)", "2024-06-01"),
        _row("A10G", "1.006", f"{_AWS}, g5.xlarge (1 GPU)", "2024-06-01"),
        _row("T4", "0.526", f"{_AWS}, g4dn.xlarge (1 GPU)", "2024-06-01"),
        _row("V100", "3.06", f"{_AWS}, p3.2xlarge (1 GPU)", "2024-06-01"),
    )
}

_PREFIX = re.compile(r"^(NVIDIA|TESLA|GEFORCE)[\s_-]+", re.IGNORECASE)


def _key(name: str) -> str:
    return re.sub(r"[\s_]+", "-", name.strip()).upper()


def normalize_model(name: str) -> str:
    """Map a GPU name as people and NVML write it (``NVIDIA H100 80GB HBM3``) to a table key."""
    key = _key(name)
    while (stripped := _PREFIX.sub("", key)) != key:
        key = stripped
    if key.startswith("A100"):
        if "80" in key[4:]:
            return "A100-80GB"
        if "40" in key[4:]:
            return "A100-40GB"
        return key
    for model in ("H100", "H200", "A10G", "L4", "T4", "V100"):
        if key == model or key.startswith(model + "-"):
            return model
    return key


def _configured(config: Config) -> dict[str, Price]:
    table = config.section("prices")
    rows: dict[str, Price] = {}
    for model, row in table.items():
        if not isinstance(row, Mapping):
            raise ConfigError(
                f"[prices] entry {model!r} must be a table",
                hint=f'write [prices.{model}] with per_gpu_hour = 2.49 and source = "..."',
            )
        rows[normalize_model(str(model))] = _parse_row(normalize_model(str(model)), row)
    return rows


def _parse_row(model: str, row: Mapping[str, Any]) -> Price:
    where = f"[prices.{model}]"
    unknown = set(row) - {"per_gpu_hour", "currency", "source", "as_of"}
    if unknown:
        raise ConfigError(f"unknown key {sorted(unknown)[0]!r} in {where}",
                          hint="known keys: as_of, currency, per_gpu_hour, source")
    raw = row.get("per_gpu_hour")
    try:
        amount = Decimal(str(raw))
        valid = amount.is_finite() and amount > 0 and not isinstance(raw, bool)
    except InvalidOperation:
        valid = False
    if raw is None or not valid:
        raise ConfigError(f"{where} per_gpu_hour = {raw!r} is not a positive number",
                          hint="write e.g. per_gpu_hour = 2.49 (one GPU for one hour)")
    currency = str(row.get("currency", "USD")).upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise ConfigError(f"{where} currency = {currency!r} is not an ISO 4217 code",
                          hint='write e.g. currency = "USD"')
    as_of = row.get("as_of")
    if isinstance(as_of, dt.datetime):
        as_of = as_of.date()
    if not isinstance(as_of, dt.date):
        try:
            as_of = dt.date.fromisoformat(str(as_of))
        except ValueError:
            raise ConfigError(f"{where} as_of = {as_of!r} is not a date",
                              hint="every price needs the date it was true: as_of = 2025-01-31"
                              ) from None
    return Price(model, amount, currency, str(row.get("source", "tracline.toml")), as_of)


def known_models(config: Config | None = None) -> list[str]:
    """Every GPU model the price table knows, built-in and configured, sorted."""
    models = set(BUILTIN_PRICES)
    if config is not None:
        models |= set(_configured(config))
    return sorted(models)


def price_for(model: str, config: Config | None = None) -> Price:
    """The price of one ``model`` GPU-hour; raise :class:`ValidationError` for unknown models."""
    if not isinstance(model, str) or not model.strip():
        raise ValidationError("gpu_model", "no GPU model given",
                              hint=f"name one of {', '.join(known_models(config))}")
    key = normalize_model(model)
    configured = _configured(config) if config is not None else {}
    if key in configured:
        return configured[key]
    if key in BUILTIN_PRICES:
        return BUILTIN_PRICES[key]
    raise ValidationError(
        "gpu_model",
        f"unknown GPU model {model!r}",
        hint=f"use one of {', '.join(known_models(config))}, or add a [prices.{key}] table "
        "with per_gpu_hour, currency, source and as_of to tracline.toml",
    )
