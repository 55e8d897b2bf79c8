"""prepare: split raw.csv into a training set (features.csv) and a held-out test set (test.csv)."""

import csv

with open("raw.csv", newline="") as handle:
    rows = list(csv.DictReader(handle))
train = [r for r in rows if int(r["id"]) % 5 != 0]
test = [r for r in rows if int(r["id"]) % 5 == 0]
for name, part in (("features.csv", train), ("test.csv", test)):
    with open(name, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "size_m2", "rooms", "price"])
        writer.writeheader()
        writer.writerows(part)
print(f"prepare: {len(train)} training rows, {len(test)} test rows")
