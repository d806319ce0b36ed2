"""The console's SVG charts (issue 18.5): well-formed, values drawn to scale, every text
escaped, text alternatives present, nothing a strict Content-Security-Policy would block."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from pdvault.console.charts import (
    PLOT_HEIGHT,
    WIDTH,
    Chart,
    Series,
    bars,
    columns,
    nice_scale,
    plain_number,
)

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = "<script>alert(1)</script>"


def parse(chart: Chart) -> ET.Element:
    return ET.fromstring(chart.svg)  # noqa: S314 - our own output, under test


def rects(root: ET.Element) -> list[ET.Element]:
    return [r for r in root.iter(f"{SVG}rect") if r.get("class", "").startswith(("series", "tone"))]


def bar_rects(root: ET.Element) -> list[ET.Element]:
    """The drawn bars (the legend's swatches sit in their own group)."""
    (group,) = [g for g in root.iter(f"{SVG}g") if g.get("class") == "chart-bars"]
    return list(group.iter(f"{SVG}rect"))


def f(element: ET.Element, name: str) -> float:
    return float(element.get(name, "nan"))


def days(n: int) -> list[str]:
    return [f"{d:02d}/11" for d in range(1, n + 1)]


def test_a_column_chart_draws_each_value_to_scale() -> None:
    chart = columns(
        "accesses",
        "Accesses per day",
        "Allowed reads per day.",
        ["01/11", "02/11", "03/11"],
        [Series("employee", (1, 2, 4))],
        category_head="Day",
    )
    root = parse(chart)
    assert root.get("viewBox", "").startswith(f"0 0 {WIDTH} ")
    heights = [f(r, "height") for r in bar_rects(root)]
    # The axis tops at 4 (a nice number at or above the largest value): 4 fills the plot.
    assert nice_scale(4) == (4.0, 1.0)
    assert heights == pytest.approx([PLOT_HEIGHT / 4, PLOT_HEIGHT / 2, PLOT_HEIGHT], abs=0.01)
    bottoms = {round(f(r, "y") + f(r, "height"), 2) for r in bar_rects(root)}
    assert len(bottoms) == 1  # every bar stands on the same baseline
    xs = [f(r, "x") for r in bar_rects(root)]
    assert xs == sorted(xs)
    assert [r.findtext(f"{SVG}title") for r in bar_rects(root)] == [
        "01/11: employee 1",
        "02/11: employee 2",
        "03/11: employee 4",
    ]


def test_stacked_columns_pile_up_in_series_order_and_skip_zeros() -> None:
    chart = columns(
        "by-role",
        "By role",
        "Stacked.",
        ["a", "b"],
        [Series("employee", (3, 0)), Series("partner", (1, 5))],
        category_head="Day",
        total_head="Total",
    )
    root = parse(chart)
    drawn = bar_rects(root)
    assert [r.get("class") for r in drawn] == ["series-0", "series-1", "series-1"]
    employee, partner_a, partner_b = drawn
    # partner sits on top of employee in the first column: its bottom is employee's top.
    assert f(partner_a, "y") + f(partner_a, "height") == pytest.approx(f(employee, "y"), abs=0.01)
    top, _ = nice_scale(5)
    assert f(employee, "height") == pytest.approx(3 / top * PLOT_HEIGHT, abs=0.01)
    assert f(partner_b, "height") == pytest.approx(5 / top * PLOT_HEIGHT, abs=0.01)
    # Two series: a legend naming both, and a total column in the table.
    legend = [
        t.text
        for g in root.iter(f"{SVG}g")
        if g.get("class") == "chart-legend"
        for t in g.iter(f"{SVG}text")
    ]
    assert legend == ["employee", "partner"]
    assert chart.table.head == ("Day", "employee", "partner", "Total")
    assert chart.table.rows == (("a", "3", "1", "4"), ("b", "0", "5", "5"))


def test_day_labels_are_thinned_to_fit_and_every_day_is_in_the_table() -> None:
    labels = days(30)
    chart = columns(
        "month",
        "Month",
        "Thirty days.",
        labels,
        [Series("all", tuple(range(30)))],
        category_head="Day",
    )
    root = parse(chart)
    (axis,) = [g for g in root.iter(f"{SVG}g") if g.get("class") == "chart-axis"]
    shown = [t.text for t in axis.iter(f"{SVG}text")]
    assert shown[0] == "01/11"
    assert 3 <= len(shown) < 30
    xs = [f(t, "x") for t in axis.iter(f"{SVG}text")]
    gaps = {round(b - a, 1) for a, b in itertools.pairwise(xs)}
    assert len(gaps) == 1
    assert min(gaps) > 5 * 6.6
    assert [row[0] for row in chart.table.rows] == labels
    # Zero draws no bar; the other 29 days do.
    assert len(bar_rects(root)) == 29


def test_horizontal_bars_draw_to_scale_with_their_deadline_marks() -> None:
    chart = bars(
        "breaches",
        "Notification delay",
        "Hours from detection to the authority's notice, against the deadline.",
        ["Breach 1", "Breach 2"],
        [Series("delay", (50, 100), tone="warn")],
        category_head="Breach",
        marks=[72, 72],
        mark_head="Deadline (h)",
    )
    root = parse(chart)
    b1, b2 = bar_rects(root)
    assert f(b2, "width") / f(b1, "width") == pytest.approx(2.0, abs=0.001)
    assert b1.get("class") == "tone-warn"
    assert f(b1, "x") == f(b2, "x")
    marks = [m for m in root.iter(f"{SVG}line") if m.get("class") == "chart-mark"]
    bar_marks = marks[:2]  # then the legend's sample
    x0, w1 = f(b1, "x"), f(b1, "width")
    for line in bar_marks:
        assert (f(line, "x1") - x0) / w1 == pytest.approx(72 / 50, abs=0.001)
    assert chart.table.head == ("Breach", "delay", "Deadline (h)")
    assert chart.table.rows == (("Breach 1", "50", "72"), ("Breach 2", "100", "72"))
    values = [t.text for t in root.iter(f"{SVG}text") if "chart-value" in t.get("class", "")]
    assert values == ["50", "100"]


def test_stacked_bars_in_their_tones() -> None:
    chart = bars(
        "deadlines",
        "Deadlines",
        "On time, late, overdue.",
        ["Deletion requests", "Complaints"],
        [
            Series("on time", (3, 1), tone="good"),
            Series("late", (1, 0), tone="warn"),
            Series("overdue", (0, 2), tone="bad"),
        ],
        category_head="Kind",
    )
    root = parse(chart)
    assert [r.get("class") for r in bar_rects(root)] == [
        "tone-good",
        "tone-warn",
        "tone-good",
        "tone-bad",
    ]
    first, second = bar_rects(root)[:2]
    assert f(second, "x") == pytest.approx(f(first, "x") + f(first, "width"), abs=0.01)
    assert f(first, "width") / f(second, "width") == pytest.approx(3.0, abs=0.001)


@pytest.mark.parametrize("draw", ["columns", "bars"])
def test_every_text_is_escaped(draw: str) -> None:
    make: Any = columns if draw == "columns" else bars
    chart = make(
        "hostile",
        f"Title {HOSTILE}",
        f"Desc {HOSTILE} & more",
        [HOSTILE, 'a"b'],
        [Series(HOSTILE, (1, 2)), Series("x'y", (0, 1))],
        category_head=HOSTILE,
    )
    assert "<script" not in chart.svg
    root = parse(chart)  # well-formed despite the markup in every label
    assert not list(root.iter(f"{SVG}script"))
    assert root.findtext(f"{SVG}title") == f"Title {HOSTILE}"
    assert root.findtext(f"{SVG}desc") == f"Desc {HOSTILE} & more"
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert HOSTILE in texts
    titles = [t.text for t in root.iter(f"{SVG}title")]
    assert f"{HOSTILE}: {HOSTILE} 1" in titles
    # The table keeps the raw text: the template escapes it once, when it renders.
    assert chart.table.head[0] == HOSTILE
    assert chart.table.rows[0][0] == HOSTILE


@pytest.mark.parametrize("draw", ["columns", "bars"])
def test_text_alternatives_and_nothing_a_strict_csp_blocks(draw: str) -> None:
    make: Any = columns if draw == "columns" else bars
    chart = make("alt-text", "T", "D", ["a"], [Series("s", (1,))], category_head="C")
    root = parse(chart)
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "alt-text-title alt-text-desc"
    ids = {e.get("id") for e in root.iter() if e.get("id")}
    assert ids == {"alt-text-title", "alt-text-desc"}
    assert root[0].tag == f"{SVG}title"
    assert root[1].tag == f"{SVG}desc"
    for element in root.iter():
        assert element.tag not in {f"{SVG}style", f"{SVG}script", f"{SVG}foreignObject"}
        assert "style" not in element.attrib
        assert not any(name.startswith("on") for name in element.attrib)
        assert not any("href" in name for name in element.attrib)
    # Sized by its viewBox only: it takes the width of its box, a phone's or a laptop's.
    assert "width" not in root.attrib
    assert "height" not in root.attrib
    assert chart.__html__() == chart.svg


def test_an_empty_chart_is_still_a_chart() -> None:
    chart = columns("empty", "Nothing", "No events.", [], [], category_head="Day")
    root = parse(chart)
    assert bar_rects(root) == []
    assert chart.table.rows == ()
    zero = bars("zero", "Z", "Z", ["a"], [Series("s", (0,))], category_head="C")
    assert bar_rects(parse(zero)) == []


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="id"):
        columns('x" onload="', "T", "D", [], [], category_head="C")
    with pytest.raises(ValueError, match="one value per category"):
        columns("x", "T", "D", ["a", "b"], [Series("s", (1,))], category_head="C")
    with pytest.raises(ValueError, match="zero or more"):
        bars("x", "T", "D", ["a"], [Series("s", (-1,))], category_head="C")
    with pytest.raises(ValueError, match="marks"):
        bars("x", "T", "D", ["a"], [Series("s", (1,))], category_head="C", marks=[1])


def test_nice_scales_and_numbers() -> None:
    assert nice_scale(0) == (1.0, 1.0)
    assert nice_scale(1) == (1.0, 1.0)
    assert nice_scale(7) == (8.0, 2.0)
    assert nice_scale(130) == (150.0, 50.0)
    assert nice_scale(1234) == (1500.0, 500.0)
    assert nice_scale(10) == (10.0, 5.0)
    assert nice_scale(100) == (100.0, 25.0)
    assert nice_scale(0.4) == (1.0, 1.0)
    assert plain_number(3.0) == "3"
    assert plain_number(4.5) == "4.5"


def test_each_value_may_carry_its_tone_named_in_the_legend() -> None:
    chart = bars(
        "states",
        "Breaches",
        "Delay by state.",
        ["b1", "b2", "b3"],
        [Series("hours", (50, 100, 130), tones=("good", "warn", "bad"))],
        category_head="Breach",
        legend=[("on time", "good"), ("late", "warn"), ("overdue", "bad")],
        more_columns=[("State", ["on time", "late", "overdue"])],
    )
    root = parse(chart)
    assert [r.get("class") for r in bar_rects(root)] == ["tone-good", "tone-warn", "tone-bad"]
    (legend,) = [g for g in root.iter(f"{SVG}g") if g.get("class") == "chart-legend"]
    assert [t.text for t in legend.iter(f"{SVG}text")] == ["on time", "late", "overdue"]
    assert [r.get("class") for r in legend.iter(f"{SVG}rect")] == [
        "tone-good",
        "tone-warn",
        "tone-bad",
    ]
    assert chart.table.head == ("Breach", "hours", "State")
    assert chart.table.rows[2] == ("b3", "130", "overdue")
    with pytest.raises(ValueError, match="tones"):
        bars("x", "T", "D", ["a"], [Series("s", (1,), tones=("loud",))], category_head="C")
    with pytest.raises(ValueError, match="one cell per category"):
        bars("x", "T", "D", ["a"], [Series("s", (1,))], category_head="C", more_columns=[("X", [])])


def test_a_week_is_labelled_by_its_first_day_and_named_in_full_in_the_table() -> None:
    chart = columns(
        "weeks",
        "Weeks",
        "By week.",
        ["1/9", "7/9"],
        [Series("all", (2, 1))],
        category_head="Week",
        row_heads=["1/9 to 6/9", "7/9 to 13/9"],
    )
    root = parse(chart)
    (axis,) = [g for g in root.iter(f"{SVG}g") if g.get("class") == "chart-axis"]
    assert [t.text for t in axis.iter(f"{SVG}text")] == ["1/9", "7/9"]
    assert [r.findtext(f"{SVG}title") for r in bar_rects(root)] == [
        "1/9 to 6/9: all 2",
        "7/9 to 13/9: all 1",
    ]
    assert [row[0] for row in chart.table.rows] == ["1/9 to 6/9", "7/9 to 13/9"]
    with pytest.raises(ValueError, match="row heads"):
        columns("x", "T", "D", ["a"], [], category_head="C", row_heads=[])
