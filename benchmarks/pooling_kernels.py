"""The CNN's first max pooling (2 x 2 on 128 x 26 x 26 x 32, float32), formulated several ways.

    python benchmarks/pooling_kernels.py [--onednn on|off|tensorflow] [--steps 40] [--repeats 5]

Where ``cnn_profile.py`` found a third of the CNN's train step under TensorFlow's Eigen kernels:
the gradient of the first pooling. Each row is a ``tf.function`` on resident random data, the
best of ``--repeats`` runs of ``--steps`` calls, in milliseconds per call:

- an elementwise pass over the pooling's input (``x * 2``): what reading and writing the
  tensor once costs, the memory floor;
- ``tf.nn.max_pool2d`` forward, and forward with its gradient (after a ReLU, as in the model);
- ``MaxPoolGrad`` alone (the gradient kernel ``max_pool2d`` differentiates to);
- ``tf.nn.max_pool_with_argmax`` forward, and ``MaxPoolGradWithArgmax`` alone;
- the pooling as a reshape and ``reduce_max``, forward with its gradient;
- ``max_pool2d`` forward with its gradient compiled by XLA.

``--onednn`` picks TensorFlow's kernels as in ``cnn_profile.py`` (``tensorflow``, the default:
TensorFlow's own choice for this CPU).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from _bench import add_onednn_option, machine, table, use_onednn
from cnn_profile import best_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    add_onednn_option(parser)
    args = parser.parse_args()
    kernels = use_onednn(args.onednn)  # before anything below imports TensorFlow
    import numpy as np
    import tensorflow as tf

    print(f"machine: {machine()}")
    print(kernels)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.random((128, 26, 26, 32), dtype=np.float32) - 0.5)
    y = tf.nn.max_pool2d(x, 2, 2, "VALID")
    g = tf.constant(rng.random(y.shape, dtype=np.float32))
    _, argmax = tf.nn.max_pool_with_argmax(x, 2, 2, "VALID", include_batch_in_index=True)
    window = {"ksize": [1, 2, 2, 1], "strides": [1, 2, 2, 1], "padding": "VALID"}

    def reshaped(v: Any) -> Any:
        b, h, w, c = v.shape
        return tf.reduce_max(tf.reshape(v, [b, h // 2, 2, w // 2, 2, c]), axis=[2, 4])

    def with_gradient(pool: Callable[[Any], Any]) -> Callable[[], Any]:
        def step() -> Any:
            with tf.GradientTape() as tape:
                tape.watch(x)
                total = tf.reduce_sum(pool(tf.nn.relu(x)) * g)
            return tape.gradient(total, x)

        return step

    rows: dict[str, Callable[[], Any]] = {
        "elementwise pass (x * 2): the memory floor": lambda: x * 2.0,
        "max_pool2d forward": lambda: tf.nn.max_pool2d(x, 2, 2, "VALID"),
        "max_pool2d forward + gradient (after a ReLU)": with_gradient(
            lambda v: tf.nn.max_pool2d(v, 2, 2, "VALID")
        ),
        "MaxPoolGrad alone": lambda: tf.raw_ops.MaxPoolGrad(
            orig_input=x, orig_output=y, grad=g, **window
        ),
        "max_pool_with_argmax forward": lambda: tf.nn.max_pool_with_argmax(
            x, 2, 2, "VALID", include_batch_in_index=True
        )[0],
        "MaxPoolGradWithArgmax alone": lambda: tf.raw_ops.MaxPoolGradWithArgmax(
            input=x, grad=g, argmax=argmax, include_batch_in_index=True, **window
        ),
        "reshape + reduce_max forward + gradient": with_gradient(reshaped),
    }
    results = [
        [name, f"{best_ms(tf.function(f), args.steps, args.repeats):.2f}"]
        for name, f in rows.items()
    ]
    xla = tf.function(with_gradient(lambda v: tf.nn.max_pool2d(v, 2, 2, "VALID")), jit_compile=True)
    results.append(
        ["max_pool2d forward + gradient under XLA", f"{best_ms(xla, args.steps, args.repeats):.2f}"]
    )
    print()
    print(table(["formulation", "ms per call"], results))


if __name__ == "__main__":
    main()
