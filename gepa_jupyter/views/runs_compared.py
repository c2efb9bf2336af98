"""Runs side by side (`gepa_jupyter.compare_runs`): a table of what each run was given, how it ended,
its scores and what it spent, then each run's best prompt with its differences from the first run's
best prompt; all of it escaped, in the shared theme-safe style."""

from html import escape

from gepa_jupyter.core.insight.runs_compared import RunFacts, facts_frame
from gepa_jupyter.views.diff import inline_diff_html, unified_text
from gepa_jupyter.views.progress import clock
from gepa_jupyter.views.style import BORDER, MUTED, TINT_BEST, column, heading, note, table
from gepa_jupyter.views.table import cell_text

TITLE = "Runs compared"
PROMPTS_TITLE = "Best prompts, differences from the first run's"
HEAD = ["run", "status", "ended by", "task model", "reflection model", "judges", "limits", "seed", "best",
        "held-out (seed → best)", "metric calls", "model calls", "cost", "time"]
NUMERIC = {7, 8, 9, 10, 11, 12, 13}
PROMPT_CELL = f'style="white-space:pre-wrap;font-family:monospace;border:1px solid {BORDER};padding:6px 8px"'


def label(facts: RunFacts) -> str:
    """A run's short name: its id's first 8 characters."""
    return facts.run_id[:8] or "(no run)"


def limits(facts: RunFacts) -> str:
    """'100 metric calls, $0.50, 300 s': the limits the run had."""
    parts = [f"{facts.max_metric_calls} metric calls"]
    if facts.max_cost is not None:
        parts.append(f"${facts.max_cost:g}")
    if facts.max_time is not None:
        parts.append(f"{facts.max_time:g} s")
    return ", ".join(parts)


def cost_text(facts: RunFacts) -> str:
    """'$0.0123', with the roles that have no price ('no price' when none has)."""
    if facts.known_cost is None:
        return "no price"
    cost = facts.known_cost
    text = f"${cost:.4f}" if cost >= 0.01 or cost == 0 else f"${cost:.6f}"  # cheap runs keep their digits
    return f"{text} (+ {', '.join(facts.unpriced)}: no price)" if facts.unpriced else text


def holdout_text(facts: RunFacts) -> str:
    if facts.holdout_seed_score is None and facts.holdout_best_score is None:
        return "—"
    return f"{cell_text(facts.holdout_seed_score)} → {cell_text(facts.holdout_best_score)}"


def _best_of(values: list) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def _tinted(html: str, best: bool) -> str:
    return f'<span style="background:{TINT_BEST};padding:0 3px">{html}</span>' if best else html


def table_html(facts: list[RunFacts]) -> str:
    """One row per run; the highest best and held-out scores tinted."""
    top = _best_of([f.best_score for f in facts])
    top_held = _best_of([f.holdout_best_score for f in facts])
    rows = []
    for f in facts:
        run = (f'<span title="{escape(f.run_id, quote=True)}" style="font-family:monospace">{escape(label(f))}</span>'
               + (f'<div style="{MUTED}">{escape(f.run_name)}</div>' if f.run_name else ""))
        rows.append([
            column(run, 14), escape(f.status), escape(f.ended_by or "—"),
            column(escape(f.models.get("model") or "—"), 16),
            column(escape(f.models.get("reflection_model") or "—"), 16),
            column(escape(f.judges or "—"), 16), f'<span style="white-space:nowrap">{escape(limits(f))}</span>',
            cell_text(f.seed_score),
            _tinted(escape(cell_text(f.best_score)), top is not None and f.best_score == top and len(facts) > 1),
            _tinted(escape(holdout_text(f)),
                    top_held is not None and f.holdout_best_score == top_held and len(facts) > 1),
            f"{f.metric_calls}/{f.max_metric_calls}", str(f.model_calls), escape(cost_text(f)), clock(f.elapsed),
        ])
    return table(HEAD, rows, "gepa-runs-compared-table", NUMERIC)


def prompts_html(facts: list[RunFacts]) -> str:
    """Each run's best prompt: the first run's as it is, the others with the words that differ
    from it marked (removed struck through, added underlined)."""
    first = facts[0].best_prompt
    parts = []
    for i, f in enumerate(facts):
        if i == 0:
            text, what = escape(first), "the reference"
        else:
            text = inline_diff_html(first, f.best_prompt)
            what = "same as the first run's" if f.best_prompt == first else f"against {label(facts[0])}"
        score = f" · best {cell_text(f.best_score)}" if f.best_score is not None else ""
        parts.append(f'<div class="gepa-run-prompt" style="margin:8px 0 2px"><b>{escape(label(f))}</b>'
                     f'<span style="{MUTED}"> {escape(what + score)}</span></div><div {PROMPT_CELL}>{text}</div>')
    return "".join(parts)


def runs_compared_html(facts: list[RunFacts]) -> str:
    """The whole comparison as escaped HTML (the table, then the best prompts)."""
    hint = ("The highest best score is tinted; 'ended by' is the limit that ended a run "
            "(max_metric_calls, max_cost, max_time), the user's stop (user) or an error.")
    return (f'<div class="gepa-runs-compared">{heading(TITLE)}{table_html(facts)}{note(hint)}'
            f"{heading(PROMPTS_TITLE)}{prompts_html(facts)}</div>")


def runs_compared_text(facts: list[RunFacts]) -> str:
    """The same for a terminal: a line per run, then each best prompt and its diff from the first's."""
    lines = [f"{TITLE} ({len(facts)})"]
    for f in facts:
        models = ", ".join(f"{k}: {v}" for k, v in f.models.items()) or "models unknown"
        judges = f", judges: {f.judges}" if f.judges else ""
        lines.append(f"{label(f)} {f.run_name}".rstrip())
        lines.append(f"  {f.status}, ended by {f.ended_by or '—'}; {models}{judges}; limits: {limits(f)}")
        lines.append(f"  seed {cell_text(f.seed_score)}, best {cell_text(f.best_score)}, held-out "
                     f"{holdout_text(f)}; {f.metric_calls}/{f.max_metric_calls} metric calls, {f.model_calls} "
                     f"model calls, {cost_text(f)}, {clock(f.elapsed)}")
    first = facts[0]
    for i, f in enumerate(facts):
        lines.append(f"--- best prompt of {label(f)} ---")
        lines.append(f.best_prompt)
        if i and f.best_prompt != first.best_prompt:
            lines.append(f"--- diff from {label(first)} ---")
            lines.append(unified_text(first.best_prompt, f.best_prompt, label(first), label(f)))
    return "\n".join(lines)


class RunsComparison:
    """What `gepa_jupyter.compare_runs` returns: `.frame` (a DataFrame, one row per run), `.facts`;
    HTML in Jupyter, text elsewhere."""

    def __init__(self, facts: list[RunFacts]):
        self.facts = list(facts)
        self.frame = facts_frame(self.facts)

    def __len__(self) -> int:
        return len(self.facts)

    def _repr_html_(self) -> str:
        return runs_compared_html(self.facts)

    def __repr__(self) -> str:
        return runs_compared_text(self.facts)
