"""Write a small synthetic dataset: raw.csv (house size, rooms → price), deterministic."""

import csv
import random
import sys

rows = int(sys.argv[1]) if len(sys.argv) > 1 else 400
rng = random.Random(7)
with open("raw.csv", "w", newline="") as handle:
    writer = csv.writer(handle)
    writer.writerow(["id", "size_m2", "rooms", "price"])
    for i in range(rows):
        size = round(rng.uniform(30, 200), 1)
        rooms = rng.randint(1, 6)
        price = round(1500 * size + 8000 * rooms + rng.gauss(0, 10000), 2)
        writer.writerow([i, size, rooms, price])
