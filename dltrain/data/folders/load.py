"""``image_folder`` and ``audio_folder`` data: planned files -> decoded arrays -> :class:`Datasets`.

The files are planned (layout, labels, groups, seeded splits) by :mod:`.layout`, decoded once
into memory (images as ``uint8``, sounds as ``float32`` waveforms) by the kind's decoder, and
served by the same :class:`ArraySource` as MNIST, so shuffling, exact resume and evaluation
batches behave alike; a folder too large for memory streams instead (:mod:`.stream`).
Pixels stay ``uint8`` through the pipeline; the model's first layer scales them, so
checkpoints and exports take raw pixels.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from dltrain.config.schema import AudioFolderData, ExperimentConfig, FolderData, ImageFolderData
from dltrain.data.fingerprint import class_counts
from dltrain.data.folders.decoded import Decoded, bad_files_message
from dltrain.data.folders.layout import Entry, plan_folder
from dltrain.data.folders.stream import FileSource, GraphDecode, check_files, streams
from dltrain.data.pipeline import ArraySource, Datasets, resolve_batch
from dltrain.data.spec import DataSpec, InputInfo, TargetInfo
from dltrain.errors import DataError

__all__ = [
    "AUDIO_EXTENSIONS",
    "IMAGE_EXTENSIONS",
    "FolderKind",
    "folder_kind",
    "load_folder",
]

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif"})
AUDIO_EXTENSIONS = frozenset({".wav"})
TARGET_NAME = "label"
_SHOWN = 10
_FACTS = {
    "size": "sizes",
    "mode": "modes",
    "sample_rate": "sample rates (Hz)",
    "channels": "channel counts",
    "subtype": "sample formats",
    "length": "lengths",
}


@dataclass(frozen=True)
class FolderKind:
    """What differs between image and audio folders: files, decoder, input."""

    what: str
    """``image`` or ``recording``, for messages."""
    extensions: frozenset[str]
    input: InputInfo
    """The raw model input (uint8 pixels, or a float32 waveform)."""
    decode: Callable[[Sequence[Path]], Decoded]
    graph: Callable[[Sequence[Path]], GraphDecode | None] | None = None
    """Streaming: a decoder inside the ``tf.data`` graph for a split whose files allow it (the
    same values as ``decode``), or None; see :class:`~dltrain.data.folders.stream.FileSource`."""


def folder_kind(data: FolderData) -> FolderKind:
    """The decoder and the raw input a folder config implies (no file is read)."""
    if isinstance(data, ImageFolderData):
        from dltrain.data.images.decode import decode_images

        height, width = data.image_size
        channels = 3 if data.color_mode == "rgb" else 1
        size = (height, width)

        def images(paths: Sequence[Path]) -> Decoded:
            return decode_images(paths, size, data.color_mode, data.resize)

        def images_in_graph(paths: Sequence[Path]) -> GraphDecode | None:
            from dltrain.data.images.png import plain_png

            if not plain_png(paths, size, data.color_mode):
                return None
            from dltrain.data.images.png_graph import decode_png_batch

            return lambda files: decode_png_batch(files, size, channels)

        return FolderKind(
            "image",
            IMAGE_EXTENSIONS,
            InputInfo("image", (height, width, channels), "uint8"),
            images,
            images_in_graph,
        )
    assert isinstance(data, AudioFolderData)
    from dltrain.data.audio.wav import read_waves

    samples = data.samples

    def waves(paths: Sequence[Path]) -> Decoded:
        return read_waves(paths, data.sample_rate, samples)

    def in_graph(paths: Sequence[Path]) -> GraphDecode | None:
        from dltrain.data.audio.wav import plain_mono_pcm16

        if not plain_mono_pcm16(paths, data.sample_rate):
            return None
        from dltrain.data.audio.wav_graph import decode_wav_batch

        return lambda files: decode_wav_batch(files, samples)

    return FolderKind(
        "recording", AUDIO_EXTENSIONS, InputInfo("audio", (samples,), "float32"), waves, in_graph
    )


def describe_folder(data: FolderData, class_names: Sequence[str]) -> DataSpec:
    """The spec of a folder kind whose training classes are ``class_names``."""
    kind = folder_kind(data)
    raw = kind.input
    target = TargetInfo(
        TARGET_NAME,
        "multiclass",
        num_classes=len(class_names),
        class_names=tuple(class_names),
        one_hot=data.one_hot,
    )
    if isinstance(data, ImageFolderData):
        facing = InputInfo(raw.name, raw.shape, "float32")
        return DataSpec(data.kind, [raw], [facing], [target], preprocess=_pixels(data.scale))
    assert isinstance(data, AudioFolderData)
    return DataSpec(data.kind, [raw], [raw], [target])


def _pixels(scale: bool) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Raw ``uint8`` pixels -> float32, scaled to [0, 1] when ``scale`` (inside the model)."""

    def preprocess(inputs: dict[str, Any]) -> dict[str, Any]:
        import keras

        name, tensor = next(iter(inputs.items()))
        layer = keras.layers.Rescaling(
            1.0 / 255.0 if scale else 1.0, name="scale_pixels" if scale else "pixels_to_float"
        )
        return {name: layer(tensor)}

    return preprocess


def load_folder(config: ExperimentConfig, test_path: Path | None) -> Datasets:
    """Plan, decode and split a folder config's files into :class:`Datasets`.

    Args:
        config: A validated config whose ``data`` is an image or audio folder.
        test_path: Evaluate on this folder (class folders, or split folders whose files all
            count) or index CSV instead of the configured test split (``dltrain eval --data``).

    Raises:
        DataError: a layout problem, or unreadable files with ``bad_files: error`` (every
            file listed).
    """
    data = config.data
    assert isinstance(data, FolderData)
    kind = folder_kind(data)
    plan = plan_folder(data, config.seed, kind.extensions)
    classes = plan.class_names
    warnings = list(plan.warnings)
    splits = {name: entries for name, entries in plan.splits.items() if entries}
    if "test" not in splits and test_path is None:
        where = data.path or data.index
        raise DataError(
            f"{where}: no test split: the layout gives none (no test/ folder or `test` rows) "
            "and data.test is null; set data.test to a fraction such as 0.2"
        )
    labels = {name: plan.labels(name) for name in splits}
    if test_path is not None:
        entries, test_labels, notes = _other_test_split(data, test_path, kind, classes, config)
        splits["test"], labels["test"] = entries, test_labels
        warnings += notes
    streaming = streams(data, kind.input, sum(len(entries) for entries in splits.values()))
    decode = kind.decode
    if streaming:  # every file checked now, its pixels dropped: decoded again per batch
        decode = partial(check_files, kind.decode, kind.input)
    decoded = {name: decode([e.path for e in entries]) for name, entries in splits.items()}
    bad = [item for name in splits for item in decoded[name].bad]
    if bad and data.bad_files == "error":
        raise DataError(bad_files_message(bad, kind.what))
    if bad:
        warnings.append(_skipped(bad, kind.what))
    arrays: dict[str, np.ndarray] = {}
    for name, result in decoded.items():
        if not len(result.kept):
            raise DataError(
                f"{data.path or data.index}: no readable {kind.what} file in the {name} split"
            )
        arrays[name] = result.array
        labels[name] = labels[name][result.kept]
        splits[name] = [splits[name][int(i)] for i in result.kept]
    spec = describe_folder(data, classes)
    source: FileSource | ArraySource
    if streaming:
        source = FileSource(
            paths={name: [e.path for e in entries] for name, entries in splits.items()},
            plain={name: [lab] for name, lab in labels.items()},
            decode=kind.decode,
            graph={
                name: kind.graph([e.path for e in entries]) if kind.graph else None
                for name, entries in splits.items()
            },
            input=kind.input,
            what=kind.what,
            one_hot=len(classes) if data.one_hot else None,
        )
    else:
        source = ArraySource(
            x={name: {kind.input.name: array} for name, array in arrays.items()},
            y={name: [lab.astype(np.int32)] for name, lab in labels.items()},
            plain={name: [lab] for name, lab in labels.items()},
            one_hot=[len(classes) if data.one_hot else None],
            cast_uint8=False,
        )
    seen = _merge_seen(decoded.values())
    fingerprint: dict[str, Any] = {
        "kind": data.kind,
        "layout": plan.layout,
        "source": str(data.path or data.index),
        "files": folder_fingerprint([e for entries in splits.values() for e in entries]),
        "seen": {fact: dict(counts.most_common()) for fact, counts in seen.items()},
        "skipped": len(bad),
        "stream": streaming,
        "splits": {
            name: {
                "examples": int(len(labels[name])),
                "shapes": {kind.input.name: [len(labels[name]), *kind.input.shape]},
                "class_counts": class_counts(labels[name], classes),
                **_groups(splits[name]),
            }
            for name in splits
        },
    }
    train_size = len(labels["train"])
    validation = "validation" if "validation" in splits else None
    return Datasets(
        spec=spec,
        train_size=train_size,
        validation_size=len(labels["validation"]) if validation else 0,
        test_size=len(labels["test"]),
        fingerprint=fingerprint,
        batch_size=resolve_batch(config.training.batch_size, train_size),
        warnings=warnings,
        source=source,
        validation_split=validation,
        summary=folder_summary(plan.layout, splits, labels, classes, seen, kind.what),
    )


def _other_test_split(
    data: FolderData,
    test_path: Path,
    kind: FolderKind,
    classes: Sequence[str],
    config: ExperimentConfig,
) -> tuple[list[Entry], np.ndarray, list[str]]:
    """Every file of ``test_path`` as the test split, labelled with the run's classes."""
    is_index = test_path.is_file() and test_path.suffix.lower() == ".csv"
    other = data.model_copy(
        update={
            "path": None if is_index else str(test_path),
            "index": str(test_path) if is_index else None,
            "validation": None,
            "test": None,
            "limit": None,
        }
    )
    plan = plan_folder(other, config.seed, kind.extensions)
    entries = sorted((e for split in plan.splits.values() for e in split), key=lambda e: e.path)
    unknown = sorted({e.label for e in entries} - set(classes))
    if unknown:
        raise DataError(
            f"{test_path}: class{'es' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(c) for c in unknown)} not among the run's classes "
            f"({', '.join(classes)})"
        )
    index = {name: i for i, name in enumerate(classes)}
    labels = np.array([index[e.label] for e in entries], dtype=np.int64)
    return entries, labels, list(plan.warnings)


def _groups(entries: Sequence[Entry]) -> dict[str, Any]:
    """The groups (speakers, patients) of a split, named when there are few enough to read."""
    groups = sorted({e.group for e in entries if e.group is not None})
    if not groups:
        return {}
    return {"groups": len(groups), **({"group_names": groups} if len(groups) <= 100 else {})}


def _skipped(bad: list[tuple[Path, str]], what: str) -> str:
    shown = ", ".join(f"{path} ({reason})" for path, reason in bad[:_SHOWN])
    more = f" and {len(bad) - _SHOWN} more" if len(bad) > _SHOWN else ""
    count = len(bad)
    return (
        f"{count} unreadable {what} file{'s' if count > 1 else ''} left out "
        f"(data.bad_files: skip): {shown}{more}"
    )


def _merge_seen(results: Any) -> dict[str, Counter[str]]:
    merged: dict[str, Counter[str]] = {}
    for result in results:
        for fact, counts in result.seen.items():
            merged.setdefault(fact, Counter()).update(counts)
    return merged


def folder_fingerprint(entries: Sequence[Entry]) -> dict[str, Any]:
    """Count, bytes and one sha256 over every file's relative path, size and content.

    One digest instead of a record per file: a folder of 50,000 photos would otherwise fill
    run.json. Two runs saw the same files exactly when the digests agree.
    """
    paths = sorted({e.path for e in entries})
    root = Path(_common_root(paths))
    digest = hashlib.sha256()
    total = 0
    for path in paths:
        content = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                content.update(chunk)
        size = path.stat().st_size
        total += size
        digest.update(f"{path.relative_to(root)}\0{size}\0{content.hexdigest()}\n".encode())
    return {"count": len(paths), "bytes": total, "root": str(root), "sha256": digest.hexdigest()}


def _common_root(paths: Sequence[Path]) -> str:
    if not paths:
        return ""
    return os.path.commonpath([str(p.parent) for p in paths])


def folder_summary(
    layout: str,
    splits: dict[str, list[Entry]],
    labels: dict[str, np.ndarray],
    classes: Sequence[str],
    seen: dict[str, Counter[str]],
    what: str,
) -> list[str]:
    """Lines for ``dltrain check``: files per split and class, and what the files were like."""
    lines = [f"layout: {layout}; {len(classes)} classes: {', '.join(classes)}"]
    for name in sorted(splits, key=("train", "validation", "test").index):
        entries = splits[name]
        counts = np.bincount(labels[name], minlength=len(classes))
        per_class = ", ".join(f"{c} {int(n)}" for c, n in zip(classes, counts, strict=True))
        groups = {e.group for e in entries if e.group is not None}
        plural = "group" if len(groups) == 1 else "groups"
        named = ", ".join(sorted(groups)[:5]) + (", ..." if len(groups) > 5 else "")
        group_note = f", {len(groups)} {plural} ({named})" if groups else ""
        lines.append(f"{name}: {len(entries)} {what}s{group_note}: {per_class}")
    for fact, values in seen.items():
        shown = ", ".join(f"{value} ({count})" for value, count in values.most_common(_SHOWN))
        more = f" and {len(values) - _SHOWN} more" if len(values) > _SHOWN else ""
        lines.append(f"{_FACTS.get(fact, fact)} seen: {shown}{more}")
    return lines
