"""An inline SVG chart: every candidate's score against the metric calls spent when it was scored,
and the best score so far; axis titles, ticks, a legend, and the candidate on hover."""

import math
from html import escape

from gepa_jupyter.core.insight.text import shorten
from gepa_jupyter.views.state import RunSnapshot
from gepa_jupyter.views.style import BLUE, GREEN, ORANGE

HOVER_PROMPT_CHARS = 300
LEFT, RIGHT, TOP, BOTTOM = 52, 16, 30, 42


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round tick values covering [low, high] (steps of 1, 2 or 5 times a power of ten)."""
    span = (high - low) or 1.0
    raw = span / max(1, count - 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(low / step) * step
    ticks, value = [], first
    while value < high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _label(value: float) -> str:
    return f"{value:g}"


def score_chart_svg(snap: RunSnapshot, width: int = 480, height: int = 230) -> str:
    """Score (y) against metric calls (x); the x axis ends at the calls spent so far, not the budget."""
    frame = snap.scores
    calls = [int(c) for c in frame["metric_calls"]] if not frame.empty else []
    scores = [float(s) for s in frame["score"]] if not frame.empty else []
    x_ticks = nice_ticks(0, max([snap.metric_calls, *calls, 1]))
    y_ticks = nice_ticks(min([0.0, *scores]), max([1.0, *scores]))
    x_max, y_low, y_high = x_ticks[-1], y_ticks[0], y_ticks[-1]
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM

    def x(value):
        return LEFT + plot_w * float(value) / x_max

    def y(value):
        return TOP + plot_h - plot_h * (float(value) - y_low) / ((y_high - y_low) or 1.0)

    budget = f" (budget {snap.max_metric_calls})" if snap.max_metric_calls else ""
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" class="gepa-chart" '
             f'role="img" aria-label="validation score of each candidate against metric calls" '
             f'style="color:inherit;font-family:sans-serif;font-size:11px;overflow:visible">',
             '<g stroke="currentColor" stroke-opacity="0.15">']
    parts += [f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(t):.1f}" y2="{y(t):.1f}"/>' for t in y_ticks]
    parts += [f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{TOP}" y2="{TOP + plot_h}"/>' for t in x_ticks]
    parts.append("</g>")
    parts.append('<g fill="currentColor"><g text-anchor="end">')
    parts += [f'<text x="{LEFT - 6}" y="{y(t) + 4:.1f}">{_label(t)}</text>' for t in y_ticks]
    parts.append('</g><g text-anchor="middle">')
    parts += [f'<text x="{x(t):.1f}" y="{TOP + plot_h + 15}">{_label(t)}</text>' for t in x_ticks]
    parts.append(f'<text x="{LEFT + plot_w / 2:.1f}" y="{height - 6}">metric calls{escape(budget)}</text></g>')
    parts.append(f'<text text-anchor="middle" transform="translate(13 {TOP + plot_h / 2:.1f}) rotate(-90)">'
                 f"validation score</text>")
    legend_y = TOP - 14
    parts.append(f'<circle cx="{LEFT + 6}" cy="{legend_y}" r="4" fill="{BLUE}"/>'
                 f'<text x="{LEFT + 14}" y="{legend_y + 4}">a candidate</text>'
                 f'<line x1="{LEFT + 100}" x2="{LEFT + 122}" y1="{legend_y}" y2="{legend_y}" stroke="{GREEN}" '
                 f'stroke-width="2.5"/><text x="{LEFT + 128}" y="{legend_y + 4}">best so far</text>'
                 f'<circle cx="{LEFT + 216}" cy="{legend_y}" r="6" fill="none" stroke="{GREEN}" stroke-width="2"/>'
                 f'<text x="{LEFT + 226}" y="{legend_y + 4}">the best</text>'
                 + (f'<circle cx="{LEFT + 286}" cy="{legend_y}" r="4" fill="{ORANGE}"/>'
                    f'<text x="{LEFT + 294}" y="{legend_y + 4}">yours</text>' if snap.user_candidates else "")
                 + "</g>")
    parts.append(f'<g stroke="currentColor" stroke-opacity="0.6"><line x1="{LEFT}" x2="{LEFT + plot_w}" '
                 f'y1="{TOP + plot_h}" y2="{TOP + plot_h}"/><line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" '
                 f'y2="{TOP + plot_h}"/></g>')
    if scores:
        parts.append(_best_line(calls, scores, snap.metric_calls, x, y))
        parts.append(_points(snap, calls, scores, x, y))
    parts.append("</svg>")
    return "".join(parts)


def _best_line(calls, scores, spent, x, y) -> str:
    best = float("-inf")
    steps: list[str] = []
    for c, s in zip(calls, scores):
        if s > best:
            if steps:
                steps.append(f"{x(c):.1f},{y(best):.1f}")
            best = s
        steps.append(f"{x(c):.1f},{y(best):.1f}")
    steps.append(f"{x(max(spent, calls[-1])):.1f},{y(best):.1f}")
    return f'<polyline points="{" ".join(steps)}" fill="none" stroke="{GREEN}" stroke-width="2.5"/>'


def _points(snap, calls, scores, x, y) -> str:
    frame = snap.scores
    marks = []
    for (_, row), c, s in zip(frame.iterrows(), calls, scores):
        candidate = int(row["candidate"])
        user = candidate in snap.user_candidates
        what = ("the seed" if candidate == snap.seed_index else "yours (origin user)" if user
                else f"iteration {row['iteration']}")
        hover = (f"candidate {candidate} ({what}): score {s:.3f} after {c} metric calls\n"
                 f"{shorten(row['prompt'], HOVER_PROMPT_CHARS)}")
        ring = (f'<circle cx="{x(c):.1f}" cy="{y(s):.1f}" r="7" fill="none" stroke="{GREEN}" stroke-width="2"/>'
                if candidate == snap.best_index else "")
        marks.append(f'<g class="gepa-point{" gepa-user" if user else ""}">{ring}<circle cx="{x(c):.1f}" '
                     f'cy="{y(s):.1f}" r="4" fill="{ORANGE if user else BLUE}">'
                     f"<title>{escape(hover)}</title></circle></g>")
    return "".join(marks)
