"""A small inline SVG chart: candidate score against metric calls, with the best so far."""

from html import escape

from gepa_jupyter.views.state import RunSnapshot


def score_chart_svg(snap: RunSnapshot, width: int = 360, height: int = 160) -> str:
    """Dots for candidates, a step line for the best score so far; no plotting library needed."""
    frame = snap.scores
    pad = 28
    x_max = max(snap.max_metric_calls, int(frame["metric_calls"].max()) if not frame.empty else 1, 1)
    low = min(0.0, float(frame["score"].min())) if not frame.empty else 0.0
    high = max(1.0, float(frame["score"].max())) if not frame.empty else 1.0

    def x(calls):
        return pad + (width - 2 * pad) * float(calls) / x_max

    def y(score):
        return height - pad - (height - 2 * pad) * (float(score) - low) / ((high - low) or 1.0)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'class="gepa-chart" role="img" aria-label="score against metric calls">',
             f'<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>',
             f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#999"/>',
             f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="#999"/>',
             f'<text x="{pad}" y="{height - 8}" font-size="10">0</text>',
             f'<text x="{width - pad}" y="{height - 8}" font-size="10" text-anchor="end">{x_max} metric calls</text>',
             f'<text x="4" y="{y(high) + 4:.1f}" font-size="10">{high:g}</text>',
             f'<text x="4" y="{y(low) + 4:.1f}" font-size="10">{low:g}</text>']
    if not frame.empty:
        best, points = float("-inf"), []
        for calls, score in zip(frame["metric_calls"], frame["score"]):
            best = max(best, float(score))
            points.append((x(calls), y(best)))
        steps = [f"{points[0][0]:.1f},{points[0][1]:.1f}"]
        for (x0, y0), (x1, y1) in zip(points, points[1:]):
            steps += [f"{x1:.1f},{y0:.1f}", f"{x1:.1f},{y1:.1f}"]
        steps.append(f"{x(snap.metric_calls or frame['metric_calls'].iloc[-1]):.1f},{points[-1][1]:.1f}")
        parts.append(f'<polyline points="{" ".join(steps)}" fill="none" stroke="#1a7f37" stroke-width="2"/>')
        for candidate, calls, score in zip(frame["candidate"], frame["metric_calls"], frame["score"]):
            parts.append(f'<circle cx="{x(calls):.1f}" cy="{y(score):.1f}" r="3" fill="#0969da">'
                         f"<title>candidate {escape(str(candidate))}: {float(score):.3f}</title></circle>")
    parts.append("</svg>")
    return "".join(parts)
