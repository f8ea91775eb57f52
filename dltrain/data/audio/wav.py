"""WAV recordings read by soundfile (libsndfile) into float32 waveforms of one length.

Every recording goes through the same steps, so training and ``dltrain predict`` hear the same
samples:

1. **Check.** The file must be WAV (``WAV``, ``WAVEX`` or ``RF64`` to libsndfile), recorded at
   ``sample_rate`` exactly (nothing is resampled: "recorded at 44100 Hz; data.sample_rate is
   8000"), hold at least one sample, and hold every sample its header announces. libsndfile
   quietly reads a truncated WAV as a shorter one, so the ``data`` chunk's stated size is
   compared with the bytes the file has: a cut-off download is a bad file, not a padded clip.
2. **Read** only the first ``samples`` frames, as float32: PCM 8-bit (unsigned), 16, 24 and
   32-bit become ``value / 2**(bits-1)`` (in [-1, 1)), float files are clipped to [-1, 1]
   (a NaN or infinite sample makes the file bad).
3. **Mono**: several channels are mixed by their mean.
4. **Length**: a longer clip is cropped (its start kept), a shorter one padded with silence
   (zeros) at its end, to exactly ``samples``.

No TensorFlow here.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile

from dltrain.data.folders.decoded import BadFile, Decoded, decode_files, file_problem
from dltrain.errors import first_line

__all__ = ["WAV_FORMATS", "BadRecording", "plain_mono_pcm16", "read_wave", "read_waves"]

WAV_FORMATS = ("WAV", "WAVEX", "RF64")
_FLOAT_SUBTYPES = ("FLOAT", "DOUBLE")
_MAX_CHUNKS = 64  # chunks before "data" worth walking; real files have a handful
_PLACEHOLDER_SIZES = (0, 0xFFFFFFFF)  # streaming writers' "size unknown"


class BadRecording(BadFile):
    """A recording cannot be used: not WAV, another sample rate, empty, truncated or unreadable
    (``path`` and ``reason`` say which and why)."""


def read_wave(path: Path, sample_rate: int, samples: int) -> np.ndarray:
    """One WAV file as a mono float32 waveform of exactly ``samples`` values in [-1, 1].

    Args:
        path: The WAV file.
        sample_rate: The rate the file must have been recorded at (Hz).
        samples: The waveform's length: longer clips cropped, shorter ones zero-padded.

    Raises:
        BadRecording: not a WAV file, another sample rate, no samples, truncated, unreadable.
        ValueError: ``sample_rate`` or ``samples`` below 1.
    """
    _check_arguments(sample_rate, samples)
    wave = np.empty(samples, dtype=np.float32)
    _read_into(path, sample_rate, wave)
    return wave


def read_waves(
    paths: Sequence[Path], sample_rate: int, samples: int, workers: int | None = 1
) -> Decoded:
    """Read many WAV files, in this thread by default.

    libsndfile releases the GIL while it reads, but a short recording costs more in Python
    (opening it through soundfile's wrappers, the checks) than in reading: on 2 cores one
    thread read 5,000 one-second clips a second through libsndfile and two threads 3,460
    (docs/benchmarks.md, "Audio-folder ingest").

    Args:
        paths: The files, in the order of the result's rows.
        sample_rate: The rate every file must have been recorded at (Hz).
        samples: Each waveform's length.
        workers: Threads (None: one per core, at most 8). The result does not depend on it.

    Returns:
        The good recordings as float32 ``(n, samples)``, their indices, each bad file with its
        reason, and what the good files were on disk: ``seen`` counts ``sample_rate``,
        ``channels``, ``subtype`` (``PCM_16``, ``FLOAT``) and ``length`` (``cropped``,
        ``padded`` or ``exact``).
    """
    _check_arguments(sample_rate, samples)

    def read_into(path: Path, row: np.ndarray) -> dict[str, str]:
        return _read_into(path, sample_rate, row)

    return decode_files(paths, (samples,), np.float32, read_into, workers)


def _check_arguments(sample_rate: int, samples: int) -> None:
    if sample_rate < 1 or samples < 1:
        raise ValueError(
            f"sample_rate and samples must be at least 1. Received: {sample_rate=}, {samples=}"
        )


def _read_into(path: Path, sample_rate: int, row: np.ndarray) -> dict[str, str]:
    """Fill ``row`` with the file's waveform; the file's facts on disk."""
    problem = file_problem(path)
    if problem is not None:
        raise BadRecording(path, problem)
    plain = _plain_pcm16(path, sample_rate, row)
    if plain is not None:
        return plain
    samples = len(row)
    try:
        with soundfile.SoundFile(path) as sound:
            if sound.format not in WAV_FORMATS:
                raise BadRecording(path, f"a {sound.format} file, not WAV")
            if sound.samplerate != sample_rate:
                raise BadRecording(
                    path,
                    f"recorded at {sound.samplerate} Hz; data.sample_rate is {sample_rate}",
                )
            if sound.frames == 0:
                raise BadRecording(path, "no samples")
            truncated = _truncation(path)
            if truncated is not None:
                raise BadRecording(path, truncated)
            block = sound.read(frames=min(sound.frames, samples), dtype="float32", always_2d=True)
            facts = {
                "sample_rate": str(sound.samplerate),
                "channels": str(sound.channels),
                "subtype": str(sound.subtype),
                "length": _length(sound.frames, samples),
            }
            floating = sound.subtype in _FLOAT_SUBTYPES
    except soundfile.SoundFileError as exc:
        raise BadRecording(path, _sndfile_reason(exc)) from None
    except OSError as exc:
        raise BadRecording(path, f"cannot be read: {exc.strerror or first_line(exc)}") from None
    if floating and not np.isfinite(block).all():
        raise BadRecording(path, "holds NaN or infinite samples")
    count = len(block)
    if block.shape[1] == 1:
        row[:count] = block[:, 0]
    else:
        row[:count] = block.mean(axis=1, dtype=np.float32)
    if floating:
        np.clip(row[:count], -1.0, 1.0, out=row[:count])
    row[count:] = 0.0
    return facts


_HEAD = 4096
"""Bytes read for the header: real files' ``fmt `` and ``data`` chunks start well inside."""


def _plain_pcm16(path: Path, sample_rate: int, row: np.ndarray) -> dict[str, str] | None:
    """Fill ``row`` from a plain RIFF WAV of 16-bit PCM at ``sample_rate`` whose ``data``
    chunk is whole, and return its facts; None (``row`` untouched) for any other file, which
    libsndfile then reads and judges.

    The common recording, read with NumPy instead of libsndfile: opening a short clip through
    soundfile cost more than reading it (one thread read 5,000 one-second clips a second that
    way, 9,600 this way; docs/benchmarks.md, "Audio-folder ingest"). The values are
    libsndfile's exactly: each sample / 32768 as float32, channels mixed by their float32
    mean.
    """
    with path.open("rb") as file:
        layout = _pcm16_layout(file, sample_rate)
        if layout is None:
            return None
        data_at, channels, frames, _ = layout
        take = min(frames, len(row))
        file.seek(data_at)
        data = np.frombuffer(file.read(take * 2 * channels), dtype="<i2")
    if data.size != take * channels:
        return None
    block = data.reshape(take, channels).astype(np.float32) * np.float32(1 / 32768)
    if channels == 1:
        row[:take] = block[:, 0]
    else:
        row[:take] = block.mean(axis=1, dtype=np.float32)
    row[take:] = 0.0
    return {
        "sample_rate": str(sample_rate),
        "channels": str(channels),
        "subtype": "PCM_16",
        "length": _length(frames, len(row)),
    }


def plain_mono_pcm16(paths: Sequence[Path], sample_rate: int) -> bool:
    """Whether every file is a mono 16-bit PCM WAV at ``sample_rate`` in the plainest layout
    (``fmt `` of 16 bytes first, its ``data`` chunk whole), which TensorFlow's
    ``tf.audio.decode_wav`` decodes to the values :func:`read_waves` gives. Reads headers
    only; False for an unreadable file (the check pass names it)."""
    for path in paths:
        try:
            with path.open("rb") as file:
                layout = _pcm16_layout(file, sample_rate)
        except OSError:
            return False
        if layout is None or layout[1] != 1 or not layout[3]:
            return False
    return True


def _pcm16_layout(file: BinaryIO, sample_rate: int) -> tuple[int, int, int, bool] | None:
    """``(data offset, channels, frames, plainest)`` of a RIFF WAV of 16-bit PCM (format tag 1)
    at ``sample_rate`` with a whole, non-empty ``data`` chunk; None for anything else.
    ``plainest``: its ``fmt `` chunk of 16 bytes comes first."""
    head = file.read(_HEAD)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    offset, fmt, fmt_first = 12, None, False
    while offset + 8 <= len(head):
        chunk_id = head[offset : offset + 4]
        (chunk_size,) = struct.unpack_from("<I", head, offset + 4)
        if chunk_id == b"fmt ":
            if chunk_size < 16 or offset + 24 > len(head):
                return None
            fmt = struct.unpack_from("<HHIIHH", head, offset + 8)
            fmt_first = offset == 12 and chunk_size == 16
        elif chunk_id == b"data":
            break
        offset += 8 + chunk_size + (chunk_size & 1)
    else:
        return None
    if fmt is None:
        return None
    tag, channels, rate, _, block_align, bits = fmt
    if tag != 1 or bits != 16 or channels < 1 or block_align != 2 * channels:
        return None
    available = os.fstat(file.fileno()).st_size - offset - 8
    if rate != sample_rate or chunk_size in _PLACEHOLDER_SIZES or chunk_size > available:
        return None  # libsndfile's path names the rate, or judges the size
    frames = chunk_size // block_align
    if frames == 0:
        return None
    return offset + 8, channels, frames, fmt_first


def _length(frames: int, samples: int) -> str:
    if frames > samples:
        return "cropped"
    return "padded" if frames < samples else "exact"


def _sndfile_reason(exc: soundfile.SoundFileError) -> str:
    """libsndfile's complaint, first line, without its "Error opening '<path>': " prefix."""
    text = first_line(exc)
    if text.startswith("Error opening") and "': " in text:
        text = text.split("': ", 1)[1]
    if "Format not recognised" in text:
        return "not a WAV file (libsndfile: format not recognised)"
    return f"cannot be read: {text}"


def _truncation(path: Path) -> str | None:
    """Why a RIFF WAV file is truncated (its ``data`` chunk announces more bytes than follow),
    or None. RF64 and big-endian RIFX files are left to libsndfile."""
    with path.open("rb") as file:
        head = file.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        size = os.fstat(file.fileno()).st_size
        offset, block_align = 12, 0
        for _ in range(_MAX_CHUNKS):
            file.seek(offset)
            header = file.read(8)
            if len(header) < 8:
                return None
            chunk_id = header[:4]
            (chunk_size,) = struct.unpack("<I", header[4:])
            if chunk_id == b"fmt ":
                fmt = file.read(14)
                if len(fmt) == 14:
                    (block_align,) = struct.unpack("<H", fmt[12:14])
            elif chunk_id == b"data":
                available = size - offset - 8
                if chunk_size in _PLACEHOLDER_SIZES or chunk_size <= available:
                    return None
                if block_align:
                    return (
                        f"truncated: the header announces {chunk_size // block_align} "
                        f"frames, the file holds {available // block_align}"
                    )
                return (
                    f"truncated: the header announces {chunk_size} bytes of samples, "
                    f"the file holds {available}"
                )
            offset += 8 + chunk_size + (chunk_size & 1)
    return None
