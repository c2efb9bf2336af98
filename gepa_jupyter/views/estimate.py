"""An estimate (gepa_jupyter.estimation.Estimate) as a short DataFrame, escaped HTML and text."""

from html import escape
from typing import Any

from gepa_jupyter.views.progress import clock

LIMIT_NAMES = {"max_metric_calls": "the metric-call budget (max_metric_calls)", "max_cost": "the cost limit (max_cost)",
               "max_time": "the time limit (max_time)"}


def estimate_frame(estimate: Any):
    """One row per role (task, reflection, judge) and a total: model, calls, tokens, cost."""
    import pandas as pd

    rows = []
    for role, calls in estimate.calls.items():
        prompt, completion = estimate.tokens.get(role, (0, 0))
        cost = estimate.cost.get(role)
        rows.append({"role": role, "model": estimate.models.get(role, ""), "calls": round(calls),
                     "prompt_tokens": prompt, "completion_tokens": completion,
                     "cost_usd": None if cost is None else round(cost, 6)})
    total = estimate.total_cost
    rows.append({"role": "total", "model": "", "calls": round(sum(estimate.calls.values())),
                 "prompt_tokens": sum(r["prompt_tokens"] for r in rows),
                 "completion_tokens": sum(r["completion_tokens"] for r in rows),
                 "cost_usd": None if total is None else round(total, 6)})
    return pd.DataFrame(rows)


def summary_lines(estimate: Any) -> list[str]:
    """The lines above the table: validation rows, iterations, metric calls, time, the binding limit."""
    lines = [f"validation rows: {estimate.validation_rows}",
             f"iterations the budget buys: about {estimate.iterations:.0f}",
             f"metric calls: about {estimate.metric_calls:.0f}",
             f"time: about {clock(estimate.seconds)} ({estimate.seconds:.0f} s)",
             "cost: " + (f"about ${estimate.total_cost:.4f}" if estimate.total_cost is not None else
                         "unknown price (" + ", ".join(r for r, c in estimate.cost.items() if c is None) + ")")]
    unpriced = [role for role, cost in estimate.cost.items() if cost is None]
    if "max_cost" in estimate.limits and unpriced:
        lines.append(f"max_cost: no price for {', '.join(unpriced)}, so their calls do not count toward it")
    if len(estimate.limits) > 1:
        lines.append(f"binds first: {LIMIT_NAMES.get(estimate.binds, estimate.binds)}")
    measured = estimate.measured
    lines.append(f"measured on the first row: {measured['seconds']:.2f} s, {measured['prompt_tokens']:.0f} + "
                 f"{measured['completion_tokens']:.0f} tokens{' (from the cache)' if measured['cached'] else ''}")
    return lines


def _cell(value: Any) -> str:
    if value is None:
        return "unknown price"
    return f"${value:.4f}" if isinstance(value, float) else str(value)


def estimate_text(estimate: Any) -> str:
    frame = estimate_frame(estimate).copy()
    frame["cost_usd"] = [_cell(v) for v in frame["cost_usd"]]
    return "Estimate before the run\n" + "\n".join(summary_lines(estimate)) + "\n" + frame.to_string(index=False)


def estimate_html(estimate: Any) -> str:
    frame = estimate_frame(estimate)
    head = "".join(f"<th>{escape(str(c))}</th>" for c in frame.columns)
    body = "".join("<tr>" + "".join(f"<td>{escape(_cell(v) if c == 'cost_usd' else str(v))}</td>"
                                    for c, v in row.items()) + "</tr>" for _, row in frame.iterrows())
    items = "".join(f"<li>{escape(line)}</li>" for line in summary_lines(estimate))
    return (f'<div class="gepa-estimate" data-binds="{escape(estimate.binds, quote=True)}" '
            f'style="font-family:monospace;font-size:12px"><b>Estimate before the run</b><ul>{items}</ul>'
            f'<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>')
