"""The digest's chart: attainment against target per target, as a PNG.

Rendered offline through matplotlib's object API on the Agg canvas (no pyplot, no global
state, no display), so it is safe on a scheduler thread next to other work.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

# More bars than this are unreadable in a Slack preview: the chart shows the worst ones and
# says how many it left out.
MAX_BARS = 40
# Attainment is drawn up to this (200 %): a target exceeded tenfold would flatten the others.
CAP = 2.0
MET_COLOUR = "#2e7d32"
BREACHED_COLOUR = "#c62828"


@dataclass(frozen=True)
class Bar:
    """One target on the chart: its name, how far it got toward its target (1.0 = exactly the
    target) and whether it was breached."""

    label: str
    attainment: float
    breached: bool


def attainment(*, actual: float, target: float, comparator: str, breached: bool) -> float:
    """How far `actual` got toward `target`, as a share (1.0 = on target, above 1 = better).

    For "at least" targets (>=, >) it is actual / target; for "at most" targets (<=, <) it is
    target / actual, so a response time twice the limit reads 50 %. Where the ratio means
    nothing (a target or an actual of zero, signs that differ), it is 100 % when met and 0 %
    when breached. Capped at CAP.
    """
    higher_is_better = comparator in (">=", ">")
    numerator, denominator = (actual, target) if higher_is_better else (target, actual)
    ratio = numerator / denominator if denominator > 0 and numerator >= 0 else math.nan
    if not math.isfinite(ratio):
        ratio = 0.0 if breached else 1.0
    return min(max(ratio, 0.0), CAP)


def render(bars: Sequence[Bar], *, title: str) -> bytes:
    """The chart as PNG bytes; the worst MAX_BARS targets when there are more."""
    if not bars:
        raise ValueError("a chart needs at least one target")
    shown = sorted(bars, key=lambda bar: (not bar.breached, bar.attainment, bar.label))[:MAX_BARS]
    # Top to bottom, worst first.
    shown.reverse()
    height = 1.4 + 0.32 * len(shown)
    # Imported here: matplotlib takes a quarter of a second to load, and only the digest needs it.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, height), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    positions = range(len(shown))
    axes.barh(
        positions,
        [bar.attainment * 100 for bar in shown],
        color=[BREACHED_COLOUR if bar.breached else MET_COLOUR for bar in shown],
        height=0.7,
    )
    axes.set_yticks(list(positions), [_short(bar.label) for bar in shown], fontsize=8)
    axes.axvline(100, color="#333333", linewidth=1, linestyle="--")
    axes.set_xlim(0, CAP * 100)
    axes.set_ylim(-0.6, len(shown) - 0.4)
    axes.set_xlabel("attainment of target (%; 100 = on target, capped at 200)")
    left_out = len(bars) - len(shown)
    heading = title
    if left_out:
        heading += f"\nthe {len(shown)} furthest from target; {left_out} more not shown"
    axes.set_title(heading, fontsize=10)
    axes.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


def _short(label: str, limit: int = 48) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"
