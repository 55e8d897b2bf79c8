"""A small Dagster project — house prices — with tracline added.

The lines marked ``# tracline`` are all that tracline needs: ``@traced`` under each asset
whose files should be content-hashed (their data versions become those digests), the
approval sensor that launches the training job once per approved training request, the
lineage sensor that reports each run, and the resource.

    dagster dev -f definitions.py            # from this folder
"""

import csv
import json
from pathlib import Path

import dagster as dg

from tracline_dagster import TraclineResource, approval_sensor, lineage_sensor, traced  # tracline

DATA = Path("data")
COLUMNS = ("sqft", "bedrooms", "age")


@dg.asset
@traced  # tracline
def cleaned_houses() -> None:
    """The sales records without rows that miss a value."""
    with (DATA / "houses.csv").open() as source:
        rows = [row for row in csv.DictReader(source) if all(row.values())]
    with (DATA / "cleaned.csv").open("w", newline="") as target:
        writer = csv.DictWriter(target, fieldnames=[*COLUMNS, "price"])
        writer.writeheader()
        writer.writerows(rows)


@dg.asset(deps=[cleaned_houses])
@traced  # tracline
def features() -> None:
    """Each column scaled to mean 0 and standard deviation 1; the price in thousands."""
    with (DATA / "cleaned.csv").open() as source:
        rows = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(source)]
    scale = {}
    for column in COLUMNS:
        values = [row[column] for row in rows]
        mean = sum(values) / len(values)
        spread = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5 or 1.0
        scale[column] = (mean, spread)
    table = {
        "scale": scale,
        "x": [[(row[c] - scale[c][0]) / scale[c][1] for c in COLUMNS] for row in rows],
        "y": [row["price"] / 1000 for row in rows],
    }
    (DATA / "features.json").write_text(json.dumps(table))


def predict(weights: list[float], bias: float, row: list[float]) -> float:
    """The model's price for one row of features."""
    return sum(w * v for w, v in zip(weights, row, strict=True)) + bias


class TrainingConfig(dg.Config):
    """How long to train."""

    epochs: int = 500
    learning_rate: float = 0.05


@dg.asset(deps=[features])
@traced  # tracline
def price_model(config: TrainingConfig) -> dg.MaterializeResult:
    """A linear model of the price, fitted by gradient descent (the expensive step)."""
    table = json.loads((DATA / "features.json").read_text())
    x, y = table["x"], table["y"]
    weights, bias = [0.0] * len(COLUMNS), 0.0
    for _ in range(config.epochs):
        errors = [predict(weights, bias, row) - target for row, target in zip(x, y, strict=True)]
        for i in range(len(weights)):
            gradient = sum(e * row[i] for e, row in zip(errors, x, strict=True)) / len(x)
            weights[i] -= config.learning_rate * gradient
        bias -= config.learning_rate * sum(errors) / len(x)
    (DATA / "model.json").write_text(json.dumps({"weights": weights, "bias": bias,
                                                 "scale": table["scale"]}))
    return dg.MaterializeResult(metadata={"epochs": config.epochs})


@dg.asset(deps=[price_model])
@traced  # tracline
def evaluation() -> None:
    """The model's mean absolute error on the training data, in thousands."""
    model = json.loads((DATA / "model.json").read_text())
    table = json.loads((DATA / "features.json").read_text())
    errors = [abs(predict(model["weights"], model["bias"], row) - target)
              for row, target in zip(table["x"], table["y"], strict=True)]
    (DATA / "metrics.json").write_text(json.dumps({"mae_thousands": sum(errors) / len(errors)}))


training = dg.define_asset_job("training", selection=[price_model, evaluation])

defs = dg.Definitions(
    assets=[cleaned_houses, features, price_model, evaluation],
    jobs=[training],
    sensors=[
        approval_sensor(training, project="house-prices"),  # tracline
        lineage_sensor(),  # tracline
    ],
    resources={"tracline": TraclineResource()},  # tracline
)
