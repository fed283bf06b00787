"""The usage chart: a bar per day, laid out here and drawn as inline SVG by the template.

No chart library and no script: the geometry is computed on the server, the template
writes ``<rect>`` elements, and the SVG carries a title and a description for screen
readers (plus a ``<title>`` per bar, which browsers show on hover).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from wellpipe.core.models import count_of_days

__all__ = ["Bar", "BarChart", "bar_chart", "nice_ceiling"]

WIDTH = 720
HEIGHT = 220
LEFT = 40  # room for the y-axis labels
RIGHT = 8
TOP = 12
BOTTOM = 28  # room for the x-axis labels
_INTERVALS = 4  # horizontal grid lines above the axis


@dataclass(frozen=True)
class Bar:
    """One day's bar."""

    day: date
    count: int
    x: float
    y: float
    width: float
    height: float
    label: str  # shown under the bar, or "" when the axis skips this day

    @property
    def tooltip(self) -> str:
        """What the bar's ``<title>`` says."""
        noun = "request" if self.count == 1 else "requests"
        return f"{self.day:%a %d %b}: {self.count} {noun}"


@dataclass(frozen=True)
class Tick:
    """A horizontal grid line with its value."""

    value: int
    y: float


@dataclass(frozen=True)
class BarChart:
    """Everything the template needs to draw the chart."""

    width: int
    height: int
    left: int
    bottom_y: float
    right_x: float
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    total: int
    title: str
    description: str


def nice_ceiling(value: int) -> int:
    """The y-axis top: four round steps (1, 2, 2.5 or 5 times a power of ten), >= ``value``."""
    needed = max(value, 4) / _INTERVALS
    magnitude = 1
    while True:
        for step in _steps(magnitude):
            if step >= needed:
                return step * _INTERVALS
        magnitude *= 10


def _steps(magnitude: int) -> tuple[int, ...]:
    if magnitude == 1:
        return (1, 2, 5)
    return (magnitude, 2 * magnitude, 5 * magnitude // 2, 5 * magnitude)


def bar_chart(days: Sequence[tuple[date, int]], *, what: str = "Requests per day") -> BarChart:
    """Lay out one bar per ``(day, count)``, oldest first, on a 0..nice-maximum scale."""
    top = nice_ceiling(max((count for _, count in days), default=0))
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(days), 1)
    gap = min(4.0, slot * 0.25)
    bottom_y = TOP + plot_h
    label_every = 1 if len(days) <= 10 else 7
    bars = []
    for index, (day, count) in enumerate(days):
        height = plot_h * count / top
        if count and height < 2:
            height = 2.0  # a non-zero day stays visible
        from_end = len(days) - 1 - index
        label = f"{day:%d %b}" if from_end % label_every == 0 else ""
        bars.append(
            Bar(
                day=day,
                count=count,
                x=round(LEFT + index * slot + gap / 2, 2),
                y=round(bottom_y - height, 2),
                width=round(slot - gap, 2),
                height=round(height, 2),
                label=label,
            )
        )
    ticks = tuple(
        Tick(value=top * i // _INTERVALS, y=round(bottom_y - plot_h * i / _INTERVALS, 2))
        for i in range(_INTERVALS + 1)
    )
    total = sum(count for _, count in days)
    if days:
        busiest_day, busiest = max(days, key=lambda item: (item[1], item[0]))
        span = f"from {days[0][0]:%d %B %Y} to {days[-1][0]:%d %B %Y}"
        busiest_text = (
            f"The busiest day was {busiest_day:%d %B} with {busiest}."
            if busiest
            else "There were no requests."
        )
        description = f"{what} {span}: {total} in total. {busiest_text}"
    else:
        description = f"{what}: no data yet."
    return BarChart(
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        bottom_y=bottom_y,
        right_x=WIDTH - RIGHT,
        bars=tuple(bars),
        ticks=ticks,
        total=total,
        title=f"{what}, last {count_of_days(len(days))}",
        description=description,
    )
