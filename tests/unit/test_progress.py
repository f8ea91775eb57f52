"""The CLI's progress display: a live one on a terminal, plain lines elsewhere."""

from __future__ import annotations

import io

from rich.console import Console

from dltrain.cli.render.progress import LineProgress, LiveProgress, make_progress


def test_live_progress_renders_on_a_terminal() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=120)
    progress = LiveProgress(console, refresh_s=0.0)
    progress.start(epochs=2, start_epoch=0, steps=10)
    progress.batch(0, 4, {"loss": 0.5, "accuracy": 0.75})
    progress.epoch(
        0, {"epoch": 1, "loss": 0.5, "accuracy": 0.75, "learning_rate": 0.001, "epoch_time_s": 1.5}
    )
    progress.stop()
    text = buffer.getvalue()
    assert "epoch 1/2" in text and "loss 0.5" in text and "lr 0.001" in text

    plain = Console(file=io.StringIO(), force_terminal=False)
    assert isinstance(make_progress(plain), LineProgress)
