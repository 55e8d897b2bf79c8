"""train: fit price = a·size + b·rooms + c by least squares on features.csv → model.json."""

import csv
import json

with open("features.csv", newline="") as handle:
    rows = [
        (float(r["size_m2"]), float(r["rooms"]), float(r["price"])) for r in csv.DictReader(handle)
    ]

# Normal equations for three unknowns, solved by Gaussian elimination (no dependencies).
xs = [(s, r, 1.0) for s, r, _ in rows]
ata = [[sum(x[i] * x[j] for x in xs) for j in range(3)] for i in range(3)]
aty = [sum(x[i] * y for x, (_, _, y) in zip(xs, rows, strict=True)) for i in range(3)]
for col in range(3):
    pivot = ata[col][col]
    for row in range(col + 1, 3):
        factor = ata[row][col] / pivot
        ata[row] = [a - factor * b for a, b in zip(ata[row], ata[col], strict=True)]
        aty[row] -= factor * aty[col]
coef = [0.0, 0.0, 0.0]
for row in (2, 1, 0):
    coef[row] = (aty[row] - sum(ata[row][k] * coef[k] for k in range(row + 1, 3))) / ata[row][row]

with open("model.json", "w") as handle:
    json.dump({"size_m2": round(coef[0], 6), "rooms": round(coef[1], 6),
               "intercept": round(coef[2], 6)}, handle, indent=2, sort_keys=True)
print(f"train: fitted on {len(rows)} rows")
