"""Where the shipped CNN's training step spends its time on this CPU: each layer's forward and
backward pass timed alone, against the whole step.

    python benchmarks/cnn_profile.py [--batch 128] [--steps 40] [--repeats 5]
        [--onednn on|off|tensorflow]

``--onednn`` picks TensorFlow's kernels: ``on`` (``TF_ENABLE_ONEDNN_OPTS=1``, what the dltrain
CLI sets on x86-64), ``off`` (Eigen's), ``tensorflow`` (default: TensorFlow's own choice for
this CPU, which is what a hand-written script gets: oneDNN only with AVX512-VNNI, AVX512-BF16,
AVX-VNNI or AMX). The script prints which ran.

The model is ``configs/mnist_cnn.yaml``'s (Conv2D 32 -> MaxPooling -> Conv2D 64 -> MaxPooling ->
Flatten -> Dropout 0.5 -> Dense 10 softmax, float32, channels last), without XLA, as
``jit_compile: auto`` trains it and as the hand-written script does. Each part is a
``tf.function`` run ``--steps`` times on resident random data, the best of ``--repeats``: the
whole train step (forward, loss, gradients, Adam), then every layer alone (forward, and the
gradients of its output's sum for its input and its weights), then Adam's update of all the
weights. A convolution's FLOPs count its forward product and the two backward ones (input and
weight gradients, each the same size), so its GFLOP/s can be set against the CPU's sgemm rate
(``hardware_floor.py``).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from _bench import add_onednn_option, machine, table, use_onednn
from hardware_floor import sgemm_gflops


def best_ms(function: Callable[[], Any], steps: int, repeats: int) -> float:
    """Milliseconds per call: the best of ``repeats`` runs of ``steps`` calls (after a warm-up)."""
    function()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(steps):
            out = function()
        _ = [float(t.numpy().ravel()[0]) for t in (out if isinstance(out, list) else [out])]
        best = min(best, time.perf_counter() - started)
    return best / steps * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    add_onednn_option(parser)
    args = parser.parse_args()
    kernels = use_onednn(args.onednn)  # before anything below imports TensorFlow
    import keras
    import numpy as np
    import tensorflow as tf

    print(f"machine: {machine()}")
    print(kernels)
    keras.utils.set_random_seed(0)
    layers = [
        keras.layers.Conv2D(32, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(64, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(10, activation="softmax"),
    ]
    model = keras.Sequential([keras.Input((28, 28, 1)), *layers])
    model.compile(optimizer="adam", loss="categorical_crossentropy", jit_compile=False)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.random((args.batch, 28, 28, 1), dtype=np.float32))
    y = tf.constant(np.eye(10, dtype=np.float32)[rng.integers(0, 10, args.batch)])
    model.optimizer.build(model.trainable_variables)
    step = tf.function(lambda: model.train_step((x, y))["loss"])
    whole = best_ms(step, args.steps, args.repeats)

    rows: list[list[Any]] = []
    parts = 0.0
    inputs = x
    for layer in layers:
        given = tf.constant(rng.random(inputs.shape, dtype=np.float32))

        def forward_backward(layer: Any = layer, given: Any = given) -> list[Any]:
            with tf.GradientTape() as tape:
                tape.watch(given)
                total = tf.reduce_sum(layer(given, training=True))
            return tape.gradient(total, [given, *layer.trainable_variables])

        ms = best_ms(tf.function(forward_backward), args.steps, args.repeats)
        parts += ms
        flops = ""
        rate = ""
        if isinstance(layer, keras.layers.Conv2D):
            out = layer.compute_output_shape(inputs.shape)
            k = layer.kernel.shape
            forward = 2 * int(np.prod(out[1:])) * k[0] * k[1] * k[2] * args.batch
            flops = f"{3 * forward / 1e9:.3f}"
            rate = f"{3 * forward / (ms / 1000) / 1e9:.1f}"
        rows.append([layer.name, f"{ms:.2f}", f"{ms / whole:.0%}", flops, rate])
        inputs = layer(inputs, training=False)

    grads = [tf.constant(rng.random(v.shape, dtype=np.float32)) for v in model.trainable_variables]
    optimizer = keras.optimizers.Adam()
    optimizer.build(model.trainable_variables)

    def update() -> Any:
        optimizer.apply(grads, model.trainable_variables)
        return optimizer.iterations

    ms = best_ms(tf.function(update), args.steps, args.repeats)
    parts += ms
    rows.append(["Adam update", f"{ms:.2f}", f"{ms / whole:.0%}", "", ""])
    rows.append(["sum of the parts", f"{parts:.2f}", f"{parts / whole:.0%}", "", ""])
    rows.append(["whole train step", f"{whole:.2f}", "100%", "", ""])
    print()
    print(
        table(
            ["part", "ms per step", "share of the step", "GFLOP (fwd + 2 bwd)", "GFLOP/s"], rows
        )
    )
    print()
    print(f"sgemm (2048², NumPy, all cores): {sgemm_gflops():.0f} GFLOP/s")


if __name__ == "__main__":
    main()
