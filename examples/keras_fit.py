"""Keras model.fit with a registry cosine schedule, on a small synthetic image set.

The seeds' MNIST example without downloading MNIST: 28x28 grayscale "digits" drawn
from ten fixed stroke patterns plus noise. The optimizer's learning rate comes from the
registry (`demo/cosine-min-lr:prod` by default); a callback records
`optimizer.learning_rate` at every step and the script checks it against the registry.

    make run                                   # in another terminal
    python examples/keras_fit.py [--epochs 2] [--ref demo/cosine-min-lr:prod]

Environment: STEPSIZE_URL (default http://127.0.0.1:8000), STEPSIZE_TOKEN (only to
publish the schedule when the server lacks it). Exits 1 if any step's lr differs.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import stepsize
from _registry import ensure_schedule


def synthetic_digits(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`n` 28x28 images of ten classes: each class a fixed random stroke pattern, plus noise."""
    rng = np.random.default_rng(seed)
    patterns = (rng.random((10, 7, 7)) > 0.6).astype("float32")
    patterns = patterns.repeat(4, axis=1).repeat(4, axis=2)  # 28x28 blocks
    labels = rng.integers(0, 10, size=n)
    images = patterns[labels] + rng.normal(0.0, 0.35, size=(n, 28, 28)).astype("float32")
    return images[..., None].astype("float32"), labels.astype("int64")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default="demo/cosine-min-lr:prod")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--samples", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    x, y = synthetic_digits(args.samples)
    steps_per_epoch = -(-args.samples // args.batch_size)
    total_steps = args.epochs * steps_per_epoch

    client = stepsize.Client()
    ensure_schedule(client, args.ref)
    sched = client.schedule(args.ref, total_steps=total_steps)  # pinned: tag resolved once
    print(f"{args.ref} -> {sched.ref}; {total_steps} steps fetched up front")

    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=sched.keras()),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )

    seen: dict[int, float] = {}

    class RecordLR(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            opt = self.model.optimizer
            seen[int(opt.iterations.numpy())] = float(opt.learning_rate)

    history = model.fit(
        x, y, batch_size=args.batch_size, epochs=args.epochs, verbose=0, callbacks=[RecordLR()]
    )
    steps = sorted(seen)
    want = sched.values(0, total_steps).astype("float32").astype("float64")
    matches = steps == list(range(total_steps)) and [seen[s] for s in steps] == want.tolist()
    print(f"accuracy after {args.epochs} epochs: {history.history['accuracy'][-1]:.3f}")
    print(f"lr at step 0 / {total_steps - 1}: {seen[0]:.6g} / {seen[steps[-1]]:.6g}")
    print(f"lr matches the registry at every step: {matches}")
    return 0 if matches else 1


if __name__ == "__main__":
    sys.exit(main())
