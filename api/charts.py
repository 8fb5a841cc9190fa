"""Small SVG charts for the moderators' stats page, drawn in Python: no JavaScript, no chart
library, and only presentation attributes (`fill=`, `font-size=`), never `style=`, because
the moderation pages' Content-Security-Policy allows no inline styles.

Contract: every function returns a complete `<svg>` element as `Markup`. Every piece of
text that reaches it (titles, labels, series names) is escaped here, so the result is safe
to insert as is. Each chart is `role="img"`, labelled by its own `<title>` and `<desc>`,
and every bar carries a `<title>` with its exact value (a tooltip). The page shows the same
numbers in a data table for screen-reader users; the charts are the picture of it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

# Colours per comment status: each has at least 3:1 contrast against the white page
# (WCAG 1.4.11, graphical objects), and they differ in lightness, not only in hue.
STATUS_COLOURS: dict[str, str] = {
    "approved": "#2e7d32",
    "held": "#a15c00",
    "pending": "#3949ab",
    "rejected": "#c62828",
    "spam": "#6a1b9a",
    "deleted": "#546e7a",
}
BAR_COLOUR = "#1f4e8c"
TRACK_COLOUR = "#e3e7ee"
TEXT_COLOUR = "#1d1d1f"
AXIS_COLOUR = "#5f6368"
FONT = "system-ui, -apple-system, 'Segoe UI', sans-serif"


@dataclass(frozen=True)
class Series:
    """One stacked layer: a name (shown in the legend and tooltips), a colour, a value per
    label."""

    name: str
    colour: str
    values: Sequence[int]


@dataclass(frozen=True)
class Bar:
    """One horizontal bar: its label, its value and the text printed after it."""

    label: str
    value: float
    text: str


def _attrs(**values: object) -> str:
    """` name="value"` pairs, escaped; a trailing underscore is dropped (`class_`), other
    underscores become dashes (`font_size` → `font-size`)."""
    parts = []
    for name, value in values.items():
        key = name.rstrip("_").replace("_", "-")
        parts.append(f' {key}="{escape(str(value))}"')
    return "".join(parts)


def _number(value: float) -> str:
    """A coordinate with at most two decimals (short markup, stable tests)."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 5 × 10ⁿ that is at least `value` (1 for zero or less), so the
    axis ends on a round number."""
    if value <= 0:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return float(step * magnitude)
    return float(10 * magnitude)  # pragma: no cover  (ten times the magnitude always fits)


def _open_svg(chart_id: str, title: str, desc: str, width: int, height: int) -> list[str]:
    title_id, desc_id = f"{chart_id}-title", f"{chart_id}-desc"
    return [
        "<svg"
        + _attrs(
            xmlns="http://www.w3.org/2000/svg",
            id=chart_id,
            class_="chart",
            viewBox=f"0 0 {width} {height}",
            role="img",
            aria_labelledby=f"{title_id} {desc_id}",
            font_family=FONT,
            font_size=12,
            fill=TEXT_COLOUR,
        )
        + ">",
        f"<title{_attrs(id=title_id)}>{escape(title)}</title>",
        f"<desc{_attrs(id=desc_id)}>{escape(desc)}</desc>",
    ]


def stacked_bars(
    chart_id: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    width: int = 720,
    height: int = 260,
) -> Markup:
    """Vertical bars, one per label (a day), each stacked from the series in order, with a
    y axis (0, half, top) and a legend. Every segment's tooltip names label, series, value."""
    left, right, top, bottom, legend_h = 40, 8, 10, 24, 22
    plot_w = width - left - right
    plot_h = height - top - bottom - legend_h
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    ceiling = nice_ceiling(max(totals, default=0))
    slot = plot_w / max(len(labels), 1)
    bar_w = max(slot * 0.7, 1.0)
    base_y = top + plot_h

    out = _open_svg(chart_id, title, desc, width, height)
    for fraction in (0.0, 0.5, 1.0):  # horizontal grid lines with their values
        y = base_y - fraction * plot_h
        out.append(
            "<line"
            + _attrs(x1=left, x2=width - right, y1=_number(y), y2=_number(y), stroke=TRACK_COLOUR)
            + "/>"
        )
        value = ceiling * fraction
        text = f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"
        out.append(
            "<text"
            + _attrs(x=left - 6, y=_number(y + 4), text_anchor="end", fill=AXIS_COLOUR)
            + f">{escape(text)}</text>"
        )
    every = max(1, math.ceil(len(labels) / 8))  # at most ~8 x-axis labels
    for i, label in enumerate(labels):
        x = left + i * slot + (slot - bar_w) / 2
        y = base_y
        for layer in series:
            count = layer.values[i]
            if count <= 0:
                continue
            h = count / ceiling * plot_h
            y -= h
            tip = f"{label}: {count:,} {layer.name}"
            out.append(
                "<rect"
                + _attrs(x=_number(x), y=_number(y), width=_number(bar_w), height=_number(h))
                + _attrs(fill=layer.colour)
                + f"><title>{escape(tip)}</title></rect>"
            )
        if i % every == 0:
            out.append(
                "<text"
                + _attrs(
                    x=_number(x + bar_w / 2),
                    y=base_y + 16,
                    text_anchor="middle",
                    fill=AXIS_COLOUR,
                )
                + f">{escape(label)}</text>"
            )
    out.append(
        "<line" + _attrs(x1=left, x2=width - right, y1=base_y, y2=base_y, stroke=AXIS_COLOUR) + "/>"
    )
    legend_y = height - 6
    x = float(left)
    for layer in series:
        out.append(
            "<rect"
            + _attrs(x=_number(x), y=legend_y - 10, width=10, height=10, fill=layer.colour)
            + "/>"
        )
        out.append(
            "<text" + _attrs(x=_number(x + 14), y=legend_y) + f">{escape(layer.name)}</text>"
        )
        x += 24 + 7 * len(layer.name)
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704  (built from escaped parts above)


def horizontal_bars(
    chart_id: str,
    title: str,
    desc: str,
    bars: Sequence[Bar],
    *,
    width: int = 720,
    maximum: float | None = None,
    colour: str = BAR_COLOUR,
) -> Markup:
    """One labelled horizontal bar per row, its text after it; `maximum` fixes the scale
    (e.g. 1.0 for a rate), otherwise the largest value fills the width."""
    label_w, text_w, row_h, gap = 190, 150, 22, 8
    plot_w = width - label_w - text_w
    height = max(len(bars), 1) * (row_h + gap) + gap
    scale = maximum if maximum is not None else max((b.value for b in bars), default=0)
    scale = scale if scale > 0 else 1
    out = _open_svg(chart_id, title, desc, width, height)
    if not bars:
        out.append("<text" + _attrs(x=0, y=row_h) + ">No data yet.</text>")
    for i, bar in enumerate(bars):
        y = gap + i * (row_h + gap)
        label = bar.label if len(bar.label) <= 28 else bar.label[:27] + "…"
        out.append(
            "<text"
            + _attrs(x=label_w - 8, y=_number(y + row_h * 0.7), text_anchor="end")
            + f"><title>{escape(bar.label)}</title>{escape(label)}</text>"
        )
        out.append(
            "<rect" + _attrs(x=label_w, y=y, width=plot_w, height=row_h, fill=TRACK_COLOUR) + "/>"
        )
        filled = min(max(bar.value / scale, 0.0), 1.0) * plot_w
        out.append(
            "<rect"
            + _attrs(x=label_w, y=y, width=_number(filled), height=row_h, fill=colour)
            + f"><title>{escape(bar.label)}: {escape(bar.text)}</title></rect>"
        )
        out.append(
            "<text"
            + _attrs(x=label_w + plot_w + 8, y=_number(y + row_h * 0.7))
            + f">{escape(bar.text)}</text>"
        )
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704  (built from escaped parts above)
