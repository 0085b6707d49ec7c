"""Writes clinic_train.csv and clinic_test.csv: made-up patients, for the README's example of a
CSV that trains without a column list (an id, free text, a categorical column, ';' between cells).

    python configs/data/make_clinic.py

progression = 40 + 1.2 (age - 50) + 3 (bmi - 25) + the site's shift + noise; the site's
shift is north -15, south 0, east +20. The test file has 6 patients of a fourth site, west,
that training never sees.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

SHIFT = {"north": -15.0, "south": 0.0, "east": 20.0, "west": 5.0}
NOTES = ["", "follow up", "smoker", "allergic to penicillin", "moved; new address"]


def patients(rng: np.random.Generator, n: int, start: int, sites: list[str]) -> list[list[object]]:
    rows = []
    for i in range(n):
        age, bmi = rng.uniform(25, 80), rng.uniform(18, 38)
        site = sites[i % len(sites)]
        y = 40 + 1.2 * (age - 50) + 3 * (bmi - 25) + SHIFT[site] + rng.normal(0, 4)
        rows.append([f"P{start + i:05d}", round(age, 1), round(bmi, 1), site,
                     NOTES[int(rng.integers(len(NOTES)))], round(y, 1) + 0.0])  # no -0.0
    return rows


def main() -> None:
    rng = np.random.default_rng(29)
    here = Path(__file__).parent
    header = ["patient_id", "age", "bmi", "site", "notes", "progression"]
    train = patients(rng, 300, 1, ["north", "south", "east"])
    test = patients(rng, 54, 301, ["north", "south", "east"]) + patients(rng, 6, 355, ["west"])
    for name, rows in (("clinic_train.csv", train), ("clinic_test.csv", test)):
        with (here / name).open("w", newline="") as fh:
            w = csv.writer(fh, delimiter=";", lineterminator="\n")
            w.writerow(header)
            w.writerows(rows)


if __name__ == "__main__":
    main()
