"""Token-rate sparklines on one scale for every row of the table.

Textual's ``Sparkline`` scales each row from its own minimum to its own maximum, so a steady stream
that wavers between 80 and 82 tok/s fills the whole bar range and looks jumpy, and two rows cannot
be compared. Here every row shares both axes:

* height: 0 tok/s is the bottom and the highest bucket of *any* row is the top;
* time: one bar is the same number of samples in every row (samples come at the session's metrics
  cadence), so the longest run fills the column and a shorter one ends earlier.

A bucket shows the mean of its samples: a steady stream looks steady, a stall shows as a gap.
Pure functions over lists of floats plus one rich ``Text`` builder; no Textual.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

from rich.color import Color, blend_rgb
from rich.style import Style
from rich.text import Text

BARS = "▁▂▃▄▅▆▇█"
LOW = Color.parse("#4a6d8c")
HIGH = Color.parse("#6fdc8c")


@dataclass(frozen=True)
class Scale:
    """Shared by every row: ``bucket`` samples per bar, ``top`` tok/s is a full bar."""

    bucket: int
    top: float


def buckets(samples: Sequence[float], bucket: int) -> list[float]:
    """Means of consecutive groups of ``bucket`` samples (the last group may be shorter)."""
    return [sum(samples[i:i + bucket]) / len(samples[i:i + bucket]) for i in range(0, len(samples), bucket)]


def shared_scale(rows: Iterable[Sequence[float]], width: int) -> Scale:
    """One scale for all ``rows`` drawn ``width`` bars wide."""
    rows = [r for r in rows if r]
    longest = max((len(r) for r in rows), default=0)
    bucket = max(1, math.ceil(longest / max(1, width)))
    top = max((v for r in rows for v in buckets(r, bucket)), default=0.0)
    return Scale(bucket, top)


def bar_levels(samples: Sequence[float], scale: Scale) -> list[int]:
    """Per bar: -1 for nothing flowing (0 tok/s), else 0..7 (an index into :data:`BARS`)."""
    out = []
    for v in buckets(samples, scale.bucket):
        if v <= 0 or scale.top <= 0:
            out.append(-1)
        else:
            out.append(min(len(BARS) - 1, max(0, math.ceil(v / scale.top * len(BARS)) - 1)))
    return out


def spark_text(samples: Sequence[float], scale: Scale) -> Text:
    """The row's bars, coloured from dim (slow) to green (the fastest bucket of any row)."""
    text = Text(no_wrap=True, overflow="crop")
    top = len(BARS) - 1
    for level in bar_levels(samples, scale):
        if level < 0:
            text.append(" ")
            continue
        rgb = blend_rgb(LOW.get_truecolor(), HIGH.get_truecolor(), level / top)
        text.append(BARS[level], Style(color=Color.from_triplet(rgb)))
    return text

