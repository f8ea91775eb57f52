"""Audio-folder ingest: ``kind: audio_folder`` against ``keras.utils.audio_dataset_from_directory``.

The same folder (``train/<digit>/*.wav``: the Free Spoken Digit Dataset's 2,500 real
recordings at 8 kHz from ``../shared/data/fsdd``, linked ``--copies`` times), every clip cut
or padded to 1 s (8,000 samples), batches of 64, shuffled. Each side runs in its own fresh
process (so peak memory is its own) and reports:

- ``load_s``: from the call to a ready pipeline (dltrain reads every file here, once, and
  hashes it for run.json; Keras only lists the files);
- ``epoch1_s`` / ``epoch2_s``: one pass over every training batch (Keras decodes every WAV
  again each epoch; dltrain gathers from memory) -> clips per second;
- ``peak_rss_mib`` / ``baseline_rss_mib``: the process's peak resident memory, and its peak
  after importing TensorFlow, before any data.

Sides: ``keras``, ``dltrain`` (decoded once into memory, the default below a quarter of RAM)
and ``dltrain_stream`` (``data.stream: true``: every file checked once, then each batch read
when it is needed, memory bounded whatever the folder's size).

    python benchmarks/audio_ingest.py --root /tmp/dltrain-audio --copies 4

Prints one ``RESULT {json}`` line per side, then a Markdown table. Run alone on the machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _bench import machine, table

FSDD = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd" / "recordings"
RATE, SAMPLES, BATCH = 8000, 8000, 64
SIDES = ("keras", "dltrain", "dltrain_stream")


def make_folder(root: Path, copies: int) -> Path:
    """``root/c{copies}/train/<digit>/`` with links to every recording, ``copies`` times."""
    folder = root / f"c{copies}"
    done = folder / ".done"
    if not done.exists():
        for wav in sorted(FSDD.glob("*.wav")):
            digit = wav.name.split("_", 1)[0]
            target = folder / "train" / digit
            target.mkdir(parents=True, exist_ok=True)
            for copy in range(copies):
                link = target / f"{wav.stem}_c{copy}.wav"
                if not link.exists():
                    link.symlink_to(wav)
        done.write_text("")
    return folder


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_dltrain(folder: Path, stream: bool) -> dict[str, Any]:
    import tensorflow as tf  # noqa: F401 - imported first, as for Keras: the baseline

    from dltrain.config.schema import ExperimentConfig
    from dltrain.data import load_datasets

    baseline = _rss_mib()
    config = ExperimentConfig.model_validate(
        {
            "data": {
                "kind": "audio_folder",
                "path": str(folder),
                "sample_rate": RATE,
                "duration": SAMPLES / RATE,
                "validation": None,
                "test": 0.01,
                "stream": stream,
            },
            "model": {"layers": ["Flatten"]},
            "training": {"batch_size": BATCH},
        }
    )
    start = time.perf_counter()
    datasets = load_datasets(config)
    load_s = time.perf_counter() - start
    times = []
    for epoch in range(2):
        ds, _ = datasets.train_dataset(BATCH, seed=0, start_epoch=epoch, epochs=epoch + 1)
        t0 = time.perf_counter()
        for _batch in ds:
            pass
        times.append(time.perf_counter() - t0)
    side = "dltrain_stream" if stream else "dltrain"
    return _result(side, datasets.train_size, load_s, times, baseline)


def run_keras(folder: Path) -> dict[str, Any]:
    import keras
    import tensorflow as tf

    baseline = _rss_mib()
    start = time.perf_counter()
    ds = keras.utils.audio_dataset_from_directory(
        folder / "train",
        batch_size=BATCH,
        output_sequence_length=SAMPLES,
        shuffle=True,
        seed=0,
        verbose=False,
    ).prefetch(tf.data.AUTOTUNE)
    load_s = time.perf_counter() - start
    clips = sum(1 for p in (folder / "train").rglob("*.wav"))
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        for _batch in ds:
            pass
        times.append(time.perf_counter() - t0)
    return _result("keras", clips, load_s, times, baseline)


def _result(
    side: str, clips: int, load_s: float, times: list[float], baseline: float
) -> dict[str, Any]:
    return {
        "side": side,
        "clips": clips,
        "load_s": round(load_s, 2),
        "epoch1_s": round(times[0], 2),
        "epoch2_s": round(times[1], 2),
        "clips_per_s_epoch1": round(clips / times[0]),
        "clips_per_s_epoch2": round(clips / times[1]),
        "clips_per_s_first_epoch_with_load": round(clips / (load_s + times[0])),
        "peak_rss_mib": round(_rss_mib()),
        "baseline_rss_mib": round(baseline),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("/tmp/dltrain-audio"))
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2, help="rounds, the sides' order rotated")
    parser.add_argument("--child", choices=SIDES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        folder = make_folder(args.root, args.copies)
        if args.child == "keras":
            result = run_keras(folder)
        else:
            result = run_dltrain(folder, stream=args.child == "dltrain_stream")
        print("RESULT " + json.dumps(result), flush=True)
        return
    if not FSDD.is_dir():
        sys.exit(f"{FSDD} not found: the shared data (../shared/data/fsdd) is needed")
    print(machine())
    make_folder(args.root, args.copies)
    results: list[dict[str, Any]] = []
    for round_ in range(args.rounds):
        order = SIDES[round_ % len(SIDES) :] + SIDES[: round_ % len(SIDES)]
        for side in order:
            command = [sys.executable, __file__, "--root", str(args.root)]
            command += ["--copies", str(args.copies), "--child", side]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT"))
            print(line, flush=True)
            results.append({**json.loads(line.removeprefix("RESULT ")), "round": round_ + 1})
    rows = [
        [
            r["side"],
            r["round"],
            r["clips"],
            f"{r['load_s']:.2f} s",
            f"{r['epoch1_s']:.2f} s",
            f"{r['epoch2_s']:.2f} s",
            f"{r['clips_per_s_epoch1']:,} / {r['clips_per_s_epoch2']:,}",
            f"{r['clips_per_s_first_epoch_with_load']:,}",
            f"+{r['peak_rss_mib'] - r['baseline_rss_mib']} MiB",
        ]
        for r in sorted(results, key=lambda r: (SIDES.index(r["side"]), r["round"]))
    ]
    headers = ["side", "round", "clips", "load", "epoch 1", "epoch 2", "clips/s, epochs"]
    print(table([*headers, "clips/s, load + epoch 1", "memory"], rows))


if __name__ == "__main__":
    main()
