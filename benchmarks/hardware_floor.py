"""The hardware floor of the classic MLP: its FLOPs per epoch over this CPU's measured sgemm rate.

    python benchmarks/hardware_floor.py [--size 2048] [--repeats 5]

The MLP (Flatten -> Dense 512 -> Dense 10, batch 32) costs, per training example, the forward
products (2 x 784 x 512 + 2 x 512 x 10 FLOPs), the weight gradients (the same again) and the
input gradient of the second layer (2 x 512 x 10; the first layer needs none): 1.64 MFLOP;
the validation pass is the forward products alone. Bias, activation, loss and Adam's update
are elementwise (under 1% of the FLOPs) and left out. The sgemm rate is the best of
``--repeats`` float32 NumPy matrix products of ``--size`` squared (all cores), the rate a
perfectly efficient implementation would multiply at; the floor is FLOPs / rate. Real
batch-32 products run well below that rate, so the floor is a bound, not a target.
"""

from __future__ import annotations

import argparse
import time

from _bench import machine, table

LAYERS = [(784, 512), (512, 10)]


def mlp_flops_per_epoch(train_size: int, validation_size: int) -> float:
    """Matrix-product FLOPs of one epoch of the classic MLP: training plus the validation pass."""
    forward = sum(2 * n_in * n_out for n_in, n_out in LAYERS)
    weight_grads = forward
    input_grads = sum(2 * n_in * n_out for n_in, n_out in LAYERS[1:])
    return train_size * (forward + weight_grads + input_grads) + validation_size * forward


def sgemm_gflops(size: int = 2048, repeats: int = 5) -> float:
    """This CPU's float32 matrix-product rate in GFLOP/s (best of ``repeats``)."""
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    a @ b  # warm up the BLAS threads
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    rate = sgemm_gflops(args.size, args.repeats)
    flops = mlp_flops_per_epoch(60_000, 10_000)
    print()
    print(
        table(
            ["sgemm (GFLOP/s)", "MLP GFLOP per epoch", "floor per epoch (s)"],
            [[rate, flops / 1e9, flops / rate / 1e9]],
        )
    )


if __name__ == "__main__":
    main()
