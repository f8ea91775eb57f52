"""Write the small synthetic CSVs the example configs train on (NumPy only, deterministic).

Every file comes from a fixed seed and a formula with noise, so the best achievable error is
known in advance (see ``configs/data/README.md`` and ``docs/guide.md``):

``linear.csv`` (1,000 rows) -- the primer's linear regression ``y = w*x + b``::

    x ~ Uniform(-5, 5);  y = 2.5*x + 4 + Normal(0, 1)

    The noise has variance 1, so the best possible test MSE is about 1.0 (MAE about 0.8).

``exam.csv`` (2,000 rows) -- logistic regression: did a student pass?::

    hours_studied ~ Uniform(0, 10);  hours_slept ~ Normal(7, 1.2)
    p = sigmoid(1.2*(hours_studied - 5) + 0.9*(hours_slept - 7));  passed ~ Bernoulli(p)

    Labels are 0/1; the Bayes-optimal accuracy is about 0.885.

``houses.csv`` (3,000 rows) -- MLP regression and the two-output model. Text column
``neighborhood``; about 3% of ``area_m2``, 2% of ``age_years`` and 1% of ``neighborhood``
cells are empty::

    area_m2 ~ Uniform(30, 250);  rooms = clip(round(area_m2/30 + Normal(0, 0.7)), 1, 8)
    age_years ~ UniformInt(0, 80);  distance_km ~ clip(Exponential(6), 0.2, 40)
    neighborhood in {center, riverside, suburb, industrial}, p = (0.2, 0.2, 0.45, 0.15)
    m = {center: 1.5, riverside: 1.3, suburb: 1.0, industrial: 0.75}[neighborhood]
    quality = m * exp(-distance_km/30) * (1 - 0.004*age_years)
    price_k = quality * (2*area_m2 + 15*rooms + 60) + Normal(0, 15)     (thousands)
    segment = budget | standard | premium by quality * exp(Normal(0, 0.08)),
              cut at 0.7 and 0.9

    The price noise has standard deviation 15, so the best possible MAE is about 12 on
    complete rows (about 15 over all rows when empty cells are filled with the mean).

``penguins.csv`` (1,500 rows) -- multi-class classification. Synthetic, penguin-like
measurements drawn from one normal distribution per species (not the real Palmer data); text
columns ``island`` and ``species``; about 2% of ``body_mass_g`` cells are empty::

    species in {Adelie, Chinstrap, Gentoo}, p = (0.44, 0.2, 0.36)
    (bill_length_mm, bill_depth_mm, flipper_length_mm, body_mass_g) ~ Normal(mean_s, sd_s)
      Adelie    mean (38.8, 18.3, 190, 3700)  sd (2.7, 1.2, 6.5, 460)
      Chinstrap mean (48.8, 18.4, 196, 3730)  sd (3.3, 1.1, 7.1, 380)
      Gentoo    mean (47.5, 15.0, 217, 5080)  sd (3.1, 1.0, 6.5, 500)
    island: Adelie -> Biscoe/Dream/Torgersen (0.3, 0.35, 0.35), Chinstrap -> Dream,
            Gentoo -> Biscoe

Run ``python configs/data/generate.py [--out DIR]``; the default writes next to this file.
The output is byte-for-byte the same on every run (tests/test_configs.py checks it).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

__all__ = ["DATASETS", "generate"]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _write(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> Path:
    lines = [",".join(header)] + [",".join(row) for row in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode("ascii"))
    return path


def _blank(values: list[str], rng: np.random.Generator, share: float) -> list[str]:
    """Empty a random ``share`` of the cells (missing values)."""
    hole = rng.random(len(values)) < share
    return ["" if h else v for v, h in zip(values, hole, strict=True)]


def linear(path: Path) -> Path:
    """``y = 2.5*x + 4 + Normal(0, 1)``."""
    rng = np.random.default_rng(1)
    n = 1000
    x = rng.uniform(-5, 5, n)
    y = 2.5 * x + 4 + rng.normal(0, 1, n)
    return _write(path, ["x", "y"], [[f"{a:.4f}", f"{b:.4f}"] for a, b in zip(x, y, strict=True)])


def exam(path: Path) -> Path:
    """Pass/fail from hours studied and slept, through a logistic model."""
    rng = np.random.default_rng(2)
    n = 2000
    studied = rng.uniform(0, 10, n)
    slept = rng.normal(7, 1.2, n)
    p = _sigmoid(1.2 * (studied - 5) + 0.9 * (slept - 7))
    passed = (rng.random(n) < p).astype(int)
    rows = [
        [f"{s:.2f}", f"{h:.2f}", str(y)] for s, h, y in zip(studied, slept, passed, strict=True)
    ]
    return _write(path, ["hours_studied", "hours_slept", "passed"], rows)


def houses(path: Path) -> Path:
    """House prices (regression) and market segment (3 classes) from one hidden quality."""
    rng = np.random.default_rng(3)
    n = 3000
    area = rng.uniform(30, 250, n)
    rooms = np.clip(np.round(area / 30 + rng.normal(0, 0.7, n)), 1, 8).astype(int)
    age = rng.integers(0, 81, n)
    distance = np.clip(rng.exponential(6, n), 0.2, 40)
    names = np.array(["center", "riverside", "suburb", "industrial"])
    mult = np.array([1.5, 1.3, 1.0, 0.75])
    hood = rng.choice(4, n, p=[0.2, 0.2, 0.45, 0.15])
    quality = mult[hood] * np.exp(-distance / 30) * (1 - 0.004 * age)
    price = quality * (2 * area + 15 * rooms + 60) + rng.normal(0, 15, n)
    noisy = quality * np.exp(rng.normal(0, 0.08, n))
    segment = np.array(["budget", "standard", "premium"])[np.digitize(noisy, [0.7, 0.9])]
    columns = [
        _blank([f"{a:.1f}" for a in area], rng, 0.03),
        [str(r) for r in rooms],
        _blank([str(a) for a in age], rng, 0.02),
        [f"{d:.2f}" for d in distance],
        _blank(list(names[hood]), rng, 0.01),
        [f"{p:.1f}" for p in price],
        list(segment),
    ]
    header = ["area_m2", "rooms", "age_years", "distance_km", "neighborhood", "price_k", "segment"]
    return _write(path, header, list(zip(*columns, strict=True)))


def penguins(path: Path) -> Path:
    """Synthetic penguin-like measurements, one normal distribution per species."""
    rng = np.random.default_rng(4)
    n = 1500
    species = np.array(["Adelie", "Chinstrap", "Gentoo"])
    means = np.array([[38.8, 18.3, 190, 3700], [48.8, 18.4, 196, 3730], [47.5, 15.0, 217, 5080]])
    sds = np.array([[2.7, 1.2, 6.5, 460], [3.3, 1.1, 7.1, 380], [3.1, 1.0, 6.5, 500]])
    label = rng.choice(3, n, p=[0.44, 0.2, 0.36])
    x = means[label] + sds[label] * rng.normal(size=(n, 4))
    islands = np.array(["Biscoe", "Dream", "Torgersen"])
    island_p = np.array([[0.3, 0.35, 0.35], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    island = [islands[rng.choice(3, p=island_p[k])] for k in label]
    columns = [
        list(island),
        [f"{v:.1f}" for v in x[:, 0]],
        [f"{v:.1f}" for v in x[:, 1]],
        [f"{v:.0f}" for v in x[:, 2]],
        _blank([f"{v:.0f}" for v in x[:, 3]], rng, 0.02),
        list(species[label]),
    ]
    header = [
        "island",
        "bill_length_mm",
        "bill_depth_mm",
        "flipper_length_mm",
        "body_mass_g",
        "species",
    ]
    return _write(path, header, list(zip(*columns, strict=True)))


DATASETS: dict[str, Callable[[Path], Path]] = {
    "linear.csv": linear,
    "exam.csv": exam,
    "houses.csv": houses,
    "penguins.csv": penguins,
}


def generate(out_dir: Path) -> list[Path]:
    """Write every CSV into ``out_dir`` and return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return [make(out_dir / name) for name, make in DATASETS.items()]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent, help="output folder")
    args = parser.parse_args(argv)
    for path in generate(args.out):
        print(f"{path}  {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
