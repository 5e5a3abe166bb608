"""The digest's chart: a real PNG of attainment against target, readable with 200 targets."""

from __future__ import annotations

import io
import sys

import pytest
from PIL import Image

from bot.sla import chart

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_attainment_reads_the_direction_of_the_target() -> None:
    # At least 99.9 % availability, 99.0 measured: just under target.
    assert chart.attainment(actual=99.0, target=99.9, comparator=">=", breached=True) == (
        pytest.approx(0.991, abs=1e-3)
    )
    # At most 300 ms, 600 measured: half way.
    assert chart.attainment(actual=600, target=300, comparator="<=", breached=True) == 0.5
    # Far better than target is capped so the others stay readable.
    assert chart.attainment(actual=1, target=300, comparator="<", breached=False) == chart.CAP
    # Zero errors allowed: the ratio means nothing, the verdict decides.
    assert chart.attainment(actual=0, target=0, comparator="<=", breached=False) == 1.0
    assert chart.attainment(actual=3, target=0, comparator="<=", breached=True) == 0.0


def test_the_chart_is_a_png_rendered_without_pyplot() -> None:
    bars = [
        chart.Bar("Checkout · p95 response_ms", 0.6, True),
        chart.Bar("Email · mean availability", 1.01, False),
    ]
    png = chart.render(bars, title="SLA attainment against target")
    assert png.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size[0] >= 800
    # No global figure state: the object API and the Agg canvas only.
    assert "matplotlib.pyplot" not in sys.modules


def test_two_hundred_targets_show_the_worst_with_a_note() -> None:
    bars = [chart.Bar(f"Service {n} · p95 metric", n / 100, n < 120) for n in range(200)]
    png = chart.render(bars, title="SLA attainment")
    image = Image.open(io.BytesIO(png))
    # The worst MAX_BARS only: the figure stays a readable height, not 200 rows.
    assert image.size[1] <= 100 * (1.4 + 0.32 * chart.MAX_BARS) + 1


def test_no_targets_make_no_chart() -> None:
    with pytest.raises(ValueError):
        chart.render([], title="empty")
