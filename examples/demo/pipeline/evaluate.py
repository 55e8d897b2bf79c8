"""evaluate: score model.json on the held-out test.csv → metrics.json."""

import csv
import json
import math

with open("model.json") as handle:
    model = json.load(handle)
with open("test.csv", newline="") as handle:
    rows = list(csv.DictReader(handle))
errors = [
    model["size_m2"] * float(r["size_m2"]) + model["rooms"] * float(r["rooms"])
    + model["intercept"] - float(r["price"])
    for r in rows
]
rmse = math.sqrt(sum(e * e for e in errors) / len(errors))
with open("metrics.json", "w") as handle:
    json.dump({"rmse": round(rmse, 2), "rows": len(rows)}, handle, indent=2, sort_keys=True)
print(f"evaluate: RMSE {rmse:,.0f} on {len(rows)} test rows")
