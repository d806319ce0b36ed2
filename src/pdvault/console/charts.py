"""Charts drawn on the server as SVG, for pages that run no script (issue 18.5).

Pure functions from figures to markup. Each chart carries its text alternatives: a ``<title>``
and a ``<desc>`` named by ``aria-labelledby``, a ``<title>`` on every bar (the browser shows it
on hover), and a ``DataTable`` holding every value, which the page shows beside the chart.
Every text is escaped here. Nothing is styled inline (the console's Content-Security-Policy
allows no inline style): colours and fonts are SVG presentation attributes, and each mark
carries a class (``chart-*``, ``series-N``, ``tone-*``) that the console's static CSS may
restyle. The drawing is sized by its ``viewBox`` alone, 400 units wide, so it scales to the
width of its box: at a phone's 390 px a 13-unit label stays about 12 px tall.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 400
FONT, SMALL = 13, 11
PAD = 8
# Wide enough to tell apart, and apart for the common colour-vision deficiencies (after
# Okabe and Ito); a series past the eighth reuses a colour, the legend and table still name it.
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#882255",
    "#999999",
)
TONES = {"good": "#009E73", "warn": "#E69F00", "bad": "#D55E00", "quiet": "#999999"}
INK, GRID = "#222222", "#d0d0d0"
_ID = re.compile(r"[a-z][a-z0-9-]{0,40}")

Number = Callable[[float], str]


def plain_number(value: float) -> str:
    """``12`` for whole values, ``12.5`` otherwise (a page passes its language's format)."""
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


@dataclass(frozen=True)
class Series:
    """One layer of a chart: its name (legend, table) and one value per category. A ``tone``
    (``good``, ``warn``, ``bad``, ``quiet``) draws it in the colour of that meaning;
    ``tones`` gives each value its own (a breach coloured by its state)."""

    name: str
    values: tuple[float, ...]
    tone: str | None = None
    tones: tuple[str, ...] | None = None


@dataclass(frozen=True)
class DataTable:
    """The chart's figures as a table: ``head[0]`` heads the category column; the first cell
    of each row is its category (a row header)."""

    caption: str
    head: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    svg: str
    table: DataTable

    def __html__(self) -> str:
        """The SVG, already escaped where it holds text: Jinja inserts it as it is."""
        return self.svg


# -- shared pieces ------------------------------------------------------------------------------


def _text(value: str) -> str:
    return escape(value, quote=True)


def _n(value: float) -> str:
    """A coordinate: short, and the same for the same value."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def nice_scale(maximum: float) -> tuple[float, float]:
    """The axis's top and the step between its gridlines: at most four steps of 1, 2, 2.5 or
    5 times a power of ten (whole numbers: counts and hours), the top at or above
    ``maximum``."""
    if maximum <= 0:
        return 1.0, 1.0
    raw = maximum / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    whole = [m * magnitude for m in (1, 2, 2.5, 5, 10) if float(m * magnitude).is_integer()]
    step = next((s for s in whole if s >= raw), 1.0)
    return step * math.ceil(maximum / step - 1e-9), step


def _ticks(top: float, step: float) -> list[float]:
    return [step * i for i in range(round(top / step) + 1)]


def _fill(series: Series, index: int, value: int | None = None) -> tuple[str, str]:
    """The class and the default colour of a series (of its ``value``-th value)."""
    tone = series.tones[value] if series.tones is not None and value is not None else series.tone
    if tone in TONES:
        return f"tone-{tone}", TONES[tone]
    return f"series-{index % len(PALETTE)}", PALETTE[index % len(PALETTE)]


def _tone(tone: str) -> tuple[str, str]:
    return f"tone-{tone}", TONES[tone]


def _width_of(text: str, size: int) -> float:
    """A generous estimate of a label's width in a sans-serif face."""
    return len(text) * size * 0.6


def _check(chart_id: str, categories: Sequence[str], series: Sequence[Series]) -> None:
    if not _ID.fullmatch(chart_id):
        raise ValueError("a chart id is lower-case letters, digits and '-'")
    for s in series:
        if len(s.values) != len(categories):
            raise ValueError("every series needs one value per category")
        if s.tones is not None and (
            len(s.tones) != len(categories) or not set(s.tones) <= set(TONES)
        ):
            raise ValueError("a series' tones are one known tone per category")
        if any(v < 0 or not math.isfinite(v) for v in s.values):
            raise ValueError("a chart draws finite values of zero or more")


def _open(chart_id: str, height: float, title: str, description: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {_n(height)}" '
        f'class="chart" role="img" aria-labelledby="{chart_id}-title {chart_id}-desc" '
        f"font-family=\"system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif\" "
        f'font-size="{FONT}" fill="{INK}">',
        f'<title id="{chart_id}-title">{_text(title)}</title>',
        f'<desc id="{chart_id}-desc">{_text(description)}</desc>',
    ]


def _legend(
    entries: Sequence[tuple[str, str, str]], y: float, mark: str | None = None
) -> tuple[list[str], float]:
    """Swatches with their names, two to a line; returns the markup and the height used."""
    items: list[tuple[str, str, str] | None] = [*entries, *([None] if mark else [])]
    column = (WIDTH - 2 * PAD) / 2
    out = ['<g class="chart-legend">']
    for i, entry in enumerate(items):
        x = PAD + (i % 2) * column
        top = y + (i // 2) * 20
        if entry is None:
            out.append(
                f'<line x1="{_n(x)}" y1="{_n(top + 5)}" x2="{_n(x + 10)}" y2="{_n(top + 5)}" '
                f'class="chart-mark" stroke="{INK}" stroke-width="2" stroke-dasharray="3 2"/>'
            )
            label = mark or ""
        else:
            name, css, colour = entry
            out.append(
                f'<rect x="{_n(x)}" y="{_n(top)}" width="10" height="10" class="{css}" '
                f'fill="{colour}"/>'
            )
            label = name
        out.append(
            f'<text x="{_n(x + 15)}" y="{_n(top + 9.5)}" font-size="{SMALL + 1}" '
            f'class="chart-text">{_text(label)}</text>'
        )
    out.append("</g>")
    return out, math.ceil(len(items) / 2) * 20


def _table(
    caption: str,
    category_head: str,
    categories: Sequence[str],
    series: Sequence[Series],
    number: Number,
    extra: Sequence[tuple[str, Sequence[str]]] = (),
) -> DataTable:
    for _, cells in extra:
        if len(cells) != len(categories):
            raise ValueError("a table column needs one cell per category")
    head = (category_head, *(s.name for s in series), *(name for name, _ in extra))
    rows = tuple(
        (
            category,
            *(number(s.values[i]) for s in series),
            *(cells[i] for _, cells in extra),
        )
        for i, category in enumerate(categories)
    )
    return DataTable(caption=caption, head=head, rows=rows)


# -- columns: values over time ------------------------------------------------------------------

PLOT_HEIGHT = 150


def columns(
    chart_id: str,
    title: str,
    description: str,
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    category_head: str,
    number: Number = plain_number,
    total_head: str | None = None,
    row_heads: Sequence[str] | None = None,
) -> Chart:
    """Vertical bars, one per category (a day, a week), each stacking its series bottom-up in
    their order. Category labels are thinned out to fit; every one is in the table and in
    each bar's own title, as ``row_heads`` names it when given (a week's first and last
    day, where the axis has room for its first). ``total_head`` adds a total column."""
    _check(chart_id, categories, series)
    heads = list(row_heads) if row_heads is not None else list(categories)
    if len(heads) != len(categories):
        raise ValueError("row heads name each category once")
    n = len(categories)
    totals = [sum(s.values[i] for s in series) for i in range(n)]
    top, step = nice_scale(max(totals, default=0))
    ticks = _ticks(top, step)
    left = PAD + max(_width_of(number(t), SMALL) for t in ticks) + 4
    plot_w = WIDTH - left - PAD
    base = PAD + SMALL / 2 + PLOT_HEIGHT
    slot = plot_w / n if n else plot_w
    bar = max(slot * 0.72, 1.0)

    def y_of(value: float) -> float:
        return base - value / top * PLOT_HEIGHT

    body: list[str] = ['<g class="chart-grid">']
    for t in ticks:
        y = y_of(t)
        body.append(
            f'<line x1="{_n(left)}" y1="{_n(y)}" x2="{_n(WIDTH - PAD)}" y2="{_n(y)}" '
            f'stroke="{GRID}" stroke-width="{1 if t else 1.5}"/>'
        )
        body.append(
            f'<text x="{_n(left - 4)}" y="{_n(y + SMALL / 3)}" text-anchor="end" '
            f'font-size="{SMALL}" class="chart-text">{_text(number(t))}</text>'
        )
    body.append("</g>")
    body.append('<g class="chart-bars">')
    for i, category in enumerate(heads):
        x, stacked = left + i * slot + (slot - bar) / 2, 0.0
        for k, s in enumerate(series):
            value = s.values[i]
            if value <= 0:
                continue
            css, colour = _fill(s, k, i)
            y_top = y_of(stacked + value)
            body.append(
                f'<rect x="{_n(x)}" y="{_n(y_top)}" width="{_n(bar)}" '
                f'height="{_n(y_of(stacked) - y_top)}" class="{css}" fill="{colour}">'
                f"<title>{_text(category)}: {_text(s.name)} {_text(number(value))}</title></rect>"
            )
            stacked += value
    body.append("</g>")
    widest = max((_width_of(c, SMALL) for c in categories), default=0.0) + 6
    every = max(1, math.ceil(widest / slot)) if n else 1
    labels_y = base + SMALL + 5
    body.append('<g class="chart-axis">')
    for i in range(0, n, every):
        centre = left + (i + 0.5) * slot
        body.append(
            f'<text x="{_n(centre)}" y="{_n(labels_y)}" text-anchor="middle" '
            f'font-size="{SMALL}" class="chart-text">{_text(categories[i])}</text>'
        )
    body.append("</g>")
    height = labels_y + PAD
    if len(series) > 1:
        legend, used = _legend([(s.name, *_fill(s, k)) for k, s in enumerate(series)], height)
        body += legend
        height += used
    extra = [(total_head, [number(t) for t in totals])] if total_head and len(series) > 1 else []
    table = _table(title, category_head, heads, series, number, extra)
    svg = "".join([*_open(chart_id, height, title, description), *body, "</svg>"])
    return Chart(id=chart_id, title=title, svg=svg, table=table)


# -- bars: one line per category ---------------------------------------------------------------

BAR_HEIGHT, ROW_HEIGHT = 14, 40


def bars(
    chart_id: str,
    title: str,
    description: str,
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    category_head: str,
    number: Number = plain_number,
    marks: Sequence[float] | None = None,
    mark_head: str | None = None,
    legend: Sequence[tuple[str, str]] | None = None,
    more_columns: Sequence[tuple[str, Sequence[str]]] = (),
) -> Chart:
    """Horizontal bars, one line per category with its label above the bar (long labels fit
    a phone's width), the series stacked left to right and the total at the bar's end.
    ``marks`` draws a dashed line across each bar at that value (a deadline), named
    ``mark_head`` in the legend and the table. ``legend`` names the tones a series drew
    with ``tones`` (name, tone); ``more_columns`` adds columns of text to the table."""
    _check(chart_id, categories, series)
    if marks is not None and (len(marks) != len(categories) or not mark_head):
        raise ValueError("marks need one value per category and a name")
    n = len(categories)
    totals = [sum(s.values[i] for s in series) for i in range(n)]
    top, step = nice_scale(max([*totals, *(marks or [])], default=0))
    right = max((_width_of(number(t), FONT) for t in totals), default=0.0) + 2 * PAD
    plot_w = WIDTH - PAD - right

    def x_of(value: float) -> float:
        return PAD + value / top * plot_w

    body: list[str] = ['<g class="chart-grid">']
    bottom = PAD + n * ROW_HEIGHT
    for t in _ticks(top, step):
        x = x_of(t)
        body.append(
            f'<line x1="{_n(x)}" y1="{PAD}" x2="{_n(x)}" y2="{_n(bottom)}" stroke="{GRID}" '
            f'stroke-width="{1 if t else 1.5}"/>'
        )
        body.append(
            f'<text x="{_n(x)}" y="{_n(bottom + SMALL + 3)}" text-anchor="middle" '
            f'font-size="{SMALL}" class="chart-text">{_text(number(t))}</text>'
        )
    body.append("</g>")
    body.append('<g class="chart-bars">')
    for i, category in enumerate(categories):
        row = PAD + i * ROW_HEIGHT
        bar_y = row + FONT + 5
        body.append(
            f'<text x="{PAD}" y="{_n(row + FONT)}" class="chart-text chart-label">'
            f"{_text(category)}</text>"
        )
        stacked = 0.0
        for k, s in enumerate(series):
            value = s.values[i]
            if value <= 0:
                continue
            css, colour = _fill(s, k, i)
            body.append(
                f'<rect x="{_n(x_of(stacked))}" y="{_n(bar_y)}" '
                f'width="{_n(x_of(stacked + value) - x_of(stacked))}" height="{BAR_HEIGHT}" '
                f'class="{css}" fill="{colour}">'
                f"<title>{_text(category)}: {_text(s.name)} {_text(number(value))}</title></rect>"
            )
            stacked += value
        body.append(
            f'<text x="{_n(x_of(stacked) + 4)}" y="{_n(bar_y + BAR_HEIGHT - 2)}" '
            f'class="chart-text chart-value">{_text(number(totals[i]))}</text>'
        )
        if marks is not None:
            x = x_of(marks[i])
            body.append(
                f'<line x1="{_n(x)}" y1="{_n(bar_y - 3)}" x2="{_n(x)}" '
                f'y2="{_n(bar_y + BAR_HEIGHT + 3)}" class="chart-mark" stroke="{INK}" '
                f'stroke-width="2" stroke-dasharray="3 2">'
                f"<title>{_text(category)}: {_text(mark_head or '')} "
                f"{_text(number(marks[i]))}</title></line>"
            )
    body.append("</g>")
    height: float = bottom + SMALL + 3 + PAD
    if legend is not None:
        entries = [(name, *_tone(tone)) for name, tone in legend]
    elif len(series) > 1:
        entries = [(s.name, *_fill(s, k)) for k, s in enumerate(series)]
    else:
        entries = []
    if entries or marks is not None:
        drawn, used = _legend(entries, height, mark_head if marks is not None else None)
        body += drawn
        height += used
    extra = [(mark_head or "", [number(m) for m in marks])] if marks is not None else []
    table = _table(title, category_head, categories, series, number, [*extra, *more_columns])
    svg = "".join([*_open(chart_id, height, title, description), *body, "</svg>"])
    return Chart(id=chart_id, title=title, svg=svg, table=table)
