"""The SVG chart builders and the comment highlighter: pure functions whose output goes into
pages as markup, so every piece of text in them must come out escaped."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from api import charts
from api.moderation_pages import highlight, local_path, queue_state_from

SVG = "{http://www.w3.org/2000/svg}"
EVIL = '<script>alert("x")</script>&'


def parse(markup: str) -> ET.Element:
    """Well-formed XML or the test fails (an unescaped `<` or `&` would break it)."""
    return ET.fromstring(markup)  # noqa: S314  (our own output, not untrusted input)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, 1), (-3, 1), (1, 1), (3, 5), (7, 10), (10, 10), (11, 20), (420, 500)],
)
def test_axis_ends_on_a_round_number(value: float, expected: float) -> None:
    assert charts.nice_ceiling(value) == expected


def test_stacked_bars_are_labelled_escaped_and_exact() -> None:
    markup = charts.stacked_bars(
        "c1",
        f"Title {EVIL}",
        f"Desc {EVIL}",
        ["05-01", "05-02"],
        [
            charts.Series("approved", "#2e7d32", [3, 0]),
            charts.Series(EVIL, "#c62828", [1, 2]),
        ],
    )
    svg = parse(markup)
    assert svg.get("role") == "img" and svg.get("aria-labelledby") == "c1-title c1-desc"
    assert svg.findtext(f"{SVG}title") == f"Title {EVIL}"
    tips = [t.text for t in svg.iter(f"{SVG}title")][1:]
    assert tips == ["05-01: 3 approved", f"05-01: 1 {EVIL}", f"05-02: 2 {EVIL}"]
    assert "<script>" not in markup and "style=" not in markup
    heights = [
        float(r.get("height", 0))
        for r in svg.iter(f"{SVG}rect")
        if r.find(f"{SVG}title") is not None
    ]
    assert heights[0] == pytest.approx(3 * heights[2] / 2)  # bars to scale: 3 vs 2


def test_horizontal_bars_scale_and_escape() -> None:
    markup = charts.horizontal_bars(
        "c2",
        "Top reasons",
        "How often",
        [charts.Bar(EVIL, 4, "4"), charts.Bar("max_links", 2, "2")],
    )
    svg = parse(markup)
    filled = [r for r in svg.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert float(filled[0].get("width", 0)) == pytest.approx(2 * float(filled[1].get("width", 0)))
    assert "<script>" not in markup and "style=" not in markup
    empty = charts.horizontal_bars("c3", "Nothing", "Nothing", [])
    assert "No data yet." in empty


def test_a_rate_bar_is_drawn_against_its_maximum() -> None:
    svg = parse(
        charts.horizontal_bars("c4", "Spam", "Rate", [charts.Bar("spam", 0.25, "25%")], maximum=1)
    )
    track, fill = list(svg.iter(f"{SVG}rect"))
    assert float(fill.get("width", 0)) == pytest.approx(float(track.get("width", 0)) / 4)


def test_highlight_marks_merged_spans_and_escapes_every_segment() -> None:
    body = "<b>bad</b> & worse bad"
    out = highlight(body, [[3, 6], [5, 7], [19, 22], [30, 40], [8, 4]])
    assert str(out) == "&lt;b&gt;<mark>bad&lt;</mark>/b&gt; &amp; worse <mark>bad</mark>"
    assert str(highlight("plain", [])) == "plain"
    assert str(highlight("<i>", [[0, 99]])) == "<mark>&lt;i&gt;</mark>"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/moderation/demo/?status=held", "/moderation/demo/?status=held"),
        ("/moderation", "/moderation"),
        ("//evil.example/moderation/", None),
        ("https://evil.example/moderation/", None),
        ("/\\evil.example", None),
        ("/moderation/\nSet-Cookie:x", None),
        ("/moderationx", None),
        ("/demo", None),
        (None, None),
    ],
)
def test_next_paths_stay_inside_the_ui(raw: str | None, expected: str | None) -> None:
    assert local_path(raw) == expected


def test_queue_state_keeps_only_filters() -> None:
    state = queue_state_from("status=spam&cursor=9&next=//evil&thread=&order=oldest")
    assert state == {"status": "spam", "cursor": "9", "order": "oldest"}
    assert not re.search("evil", str(state))
