"""configs/audio/spoken_digits.yaml written by hand in Keras: the baseline for its accuracy.

The same recordings (the Free Spoken Digit Dataset, CC BY-SA 4.0), the same speaker split
(``--train``, ``--test``: the speakers ``dltrain check`` shows for the config and run.json
names under ``data.fingerprint.splits``),
the same model layer for layer (shift and noise augmentation, log STFT spectrogram, two
Conv1D),
adam 1e-3, batch 32, 15 epochs on the four training speakers (no validation speaker, as in
the config); then ``model.evaluate`` on the test speaker. Waveforms are read with
soundfile, cropped or zero-padded to 1 s at 8 kHz, as ``kind: audio_folder`` does.

    python benchmarks/spoken_digits_keras.py --seed 42
    # RESULT {"seed": 42, "test_accuracy": ..., "epochs": ...}

Compare with ``dltrain run configs/audio/spoken_digits.yaml --set seed=42`` (docs/guide.md).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd" / "recordings"
SAMPLES = 8000


def read_split(folder: Path, speakers: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Waveforms (n, 8000) float32 and digit labels of these speakers' recordings."""
    files = sorted(p for p in folder.glob("*.wav") if p.stem.split("_")[1] in speakers)
    waves = np.zeros((len(files), SAMPLES), np.float32)
    labels = np.zeros(len(files), np.int32)
    for i, path in enumerate(files):
        audio, rate = soundfile.read(path, dtype="float32", always_2d=True)
        assert rate == 8000, path
        mono = audio.mean(axis=1)[:SAMPLES]
        waves[i, : len(mono)] = mono
        labels[i] = int(path.stem.split("_")[0])
    return waves, labels


def build(seed: int) -> Any:
    import keras

    return keras.Sequential(
        [
            keras.Input((SAMPLES,)),
            keras.layers.Reshape((1, SAMPLES, 1)),
            keras.layers.RandomTranslation(
                0.0, 0.1, fill_mode="constant", interpolation="nearest", seed=seed
            ),
            keras.layers.Reshape((SAMPLES,)),
            keras.layers.GaussianNoise(0.002, seed=seed),
            keras.layers.Reshape((SAMPLES, 1)),
            keras.layers.STFTSpectrogram(
                mode="log", frame_length=256, frame_step=128, fft_length=256, trainable=False
            ),
            keras.layers.LayerNormalization(),
            keras.layers.Conv1D(64, 5, activation="relu", padding="same"),
            keras.layers.MaxPooling1D(2),
            keras.layers.Conv1D(128, 3, activation="relu", padding="same"),
            keras.layers.GlobalMaxPooling1D(),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--train", default="george,jackson,lucas,nicolas")
    parser.add_argument("--test", default="theo")
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args()

    import keras

    keras.utils.set_random_seed(args.seed)
    x_train, y_train = read_split(args.data, args.train.split(","))
    x_test, y_test = read_split(args.data, args.test.split(","))
    model = build(args.seed)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(x_train, y_train, batch_size=32, epochs=args.epochs, verbose=0)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    result = {
        "seed": args.seed,
        "test_accuracy": round(float(accuracy), 4),
        "epochs": len(history.history["loss"]),
        "train": len(y_train),
        "test_speakers": args.test,
        "test": len(y_test),
    }
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
