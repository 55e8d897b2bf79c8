"""Cost estimates: GPU count × hours × price per GPU-hour, with the arithmetic spelled out."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from tracline.approvals._model import Compute, Estimate, Money, dec
from tracline.config import Config
from tracline.gpu import price_for

__all__ = ["CENT", "estimate", "fit_line", "price_text"]

CENT = Decimal("0.01")
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}


def price_text(amount: Decimal, currency: str) -> str:
    """A price with at least two and at most four decimals (``$12.29``, ``$0.8048``)."""
    text = f"{amount.quantize(Decimal('0.0001'), ROUND_HALF_UP):f}".rstrip("0")
    whole, _, frac = text.partition(".")
    text = f"{int(whole):,}.{frac.ljust(2, '0')}"
    symbol = _SYMBOLS.get(currency)
    return f"{symbol}{text}" if symbol else f"{text} {currency}"


def estimate(compute: Compute, config: Config) -> Estimate:
    """The estimate of ``compute`` at the configured price, rounded to the cent."""
    price = price_for(compute.gpu_model, config)
    amount = (compute.gpu_count * compute.hours * price.per_gpu_hour).quantize(
        CENT, ROUND_HALF_UP
    )
    arithmetic = (
        f"{compute.gpu_count} × {price.model} × {dec(compute.hours)} h × "
        f"{price_text(price.per_gpu_hour, price.currency)}/GPU-h "
        f"({price.source}, as of {price.as_of.isoformat()}) = {Money(amount, price.currency)}"
    )
    return Estimate(amount, price.currency, price.per_gpu_hour, price.source, price.as_of,
                    arithmetic)


def fit_line(budget: Money, est: Estimate) -> str:
    """One line saying whether the estimate fits the budget, and by how much."""
    gap = budget.amount - est.amount
    if gap >= 0:
        return (f"fits: budget {budget} covers the estimate {est.money} "
                f"({Money(gap, budget.currency)} to spare)")
    return (f"shortfall: the estimate {est.money} exceeds the budget {budget} "
            f"by {Money(-gap, budget.currency)}")
