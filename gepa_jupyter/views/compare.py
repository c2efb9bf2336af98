"""The side-by-side view: the seed and the best prompt, differences highlighted, with scores."""

from html import escape

from gepa_jupyter.core.insight.text import shorten
from gepa_jupyter.views.diff import diff_html, unified_text
from gepa_jupyter.views.examples import changes_html, changes_text, example_changes
from gepa_jupyter.views.lineage import lineage, lineage_html, lineage_text
from gepa_jupyter.views.state import RunSnapshot
from gepa_jupyter.views.style import BORDER, MUTED, TABLE, TD, TD_NUM, TH, fold, heading

SIDE_BY_SIDE = "Seed and best prompt, side by side"


def _score_rows(snap: RunSnapshot) -> list[tuple[str, float | None, float | None]]:
    """(label, seed value, best value) for the aggregate, each scorer and held-out scores."""
    seed, best = snap.seed_row, snap.best_row
    rows = [("score (validation)", _get(seed, "score"), _get(best, "score"))]
    rows += [(name, _get(seed, name), _get(best, name)) for name in snap.scorer_names]
    held = snap.holdout_scores
    if held:
        seed_h, best_h = held.get("seed", {}), held.get("best", {})
        for key in dict.fromkeys([*seed_h, *best_h]):
            label = "held-out score" if key == "score" else f"held-out {key}"
            rows.append((label, seed_h.get(key), best_h.get(key)))
    return rows


def _get(row, key):
    if row is None or key not in row.index:
        return None
    value = row[key]
    return None if value is None or value != value else float(value)


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def mlflow_location(snap: RunSnapshot) -> tuple[str, str | None]:
    """(how to see the run in MLflow's UI, its URL when a server is known): a link for an http(s)
    tracking server, else the `mlflow ui` command for the store and where the run will be."""
    page = f"#/experiments/{snap.experiment_id}/runs/{snap.run_id}"
    uri = snap.tracking_uri or ""
    if uri.startswith(("http://", "https://")):
        url = f"{uri.rstrip('/')}/{page}"
        return f"MLflow run: {url}", url
    store = f" --backend-store-uri {uri}" if uri else ""
    return f"MLflow run: {snap.run_id}; to see it: mlflow ui{store} (then http://127.0.0.1:5000/{page})", None


def _footer(snap: RunSnapshot) -> list[str]:
    lines = [f"status: {snap.status}"]
    if snap.error:
        lines.append(f"error: {snap.error}")
    if snap.run_id:
        lines.append(mlflow_location(snap)[0])
    uris = [u for u in (snap.registered_prompt_uris or {snap.prompt_name: snap.registered_prompt_uri}).values() if u]
    if uris:
        alias = " (alias 'optimized')" if snap.optimized_alias else " (no alias: it did not beat the seed)"
        label = "registered prompt" if len(uris) == 1 else "registered prompts"
        lines.append(f"{label}: {', '.join(uris)}{alias}")
    return lines


def _line_html(line: str, snap: RunSnapshot) -> str:
    """A footer line as escaped HTML; the MLflow run's URL, when there is one, as a link."""
    text, url = mlflow_location(snap) if snap.run_id else ("", None)
    if url and line == text:
        return (f'MLflow run: <a class="gepa-mlflow-link" href="{escape(url, quote=True)}" target="_blank" '
                f'rel="noopener">{escape(url)}</a>')
    return escape(line)


def _pair_html(seed: str, best: str, best_label: str) -> str:
    seed_html, best_html = diff_html(seed, best)
    cell = (f'style="vertical-align:top;text-align:left;white-space:pre-wrap;font-family:monospace;'
            f'border:1px solid {BORDER};padding:6px 8px;width:50%"')
    return (f'<table style="border-collapse:collapse;width:100%;table-layout:fixed">'
            f'<thead><tr><th {TH}>seed</th><th {TH}>{escape(best_label)}</th></tr></thead>'
            f"<tbody><tr><td {cell}>{seed_html}</td><td {cell}>{best_html}</td></tr></tbody></table>")


def _prompts_html(snap: RunSnapshot) -> str:
    """One seed/best pair per prompt; with several, each under its name, the unchanged ones collapsed."""
    pairs = snap.prompt_pairs
    if len(pairs) == 1:
        _, seed, best = pairs[0]
        return _pair_html(seed, best, "best" if best != seed else "best (same as seed)")
    parts = []
    for name, seed, best in pairs:
        if best == seed:
            parts.append(f'<details class="gepa-unchanged"><summary style="cursor:pointer">'
                         f'<b>{escape(name)}</b> <span style="{MUTED}">(unchanged)</span></summary>'
                         f"{_pair_html(seed, best, 'best (same as seed)')}</details>")
        else:
            parts.append(f'<div class="gepa-changed" style="margin:6px 0 2px"><b>{escape(name)}</b></div>'
                         f"{_pair_html(seed, best, 'best')}")
    return "".join(parts)


def comparison_html(snap: RunSnapshot) -> str:
    """Two columns (seed, best) per prompt with highlighted differences, a score table, the examples the
    best fixed, broke and still gets wrong, and how it was found; all escaped."""
    scores = "".join(
        f"<tr><td {TD}>{escape(label)}</td><td {TD_NUM}>{_fmt(s)}</td><td {TD_NUM}>{_fmt(b)}</td>"
        f"<td {TD_NUM}>{'' if s is None or b is None else f'{b - s:+.3f}'}</td></tr>"
        for label, s, b in _score_rows(snap)
    )
    footer = "<br>".join(_line_html(line, snap) for line in _footer(snap))
    return (
        f'<div class="gepa-compare" data-status="{escape(snap.status, quote=True)}">'
        f"{_prompts_html(snap)}"
        f'<table class="gepa-compare-scores" {TABLE}>'
        f"<thead><tr><th {TH}></th><th {TH}>seed</th><th {TH}>best</th><th {TH}>change</th></tr></thead>"
        f"<tbody>{scores}</tbody></table>"
        f'<div class="gepa-summary" style="margin:6px 0">{escape(summary_text(snap))}</div>'
        f'<div style="font-size:12px;{MUTED};margin-top:4px">{footer}</div>'
        f"{fold(_changes_title(snap), changes_html(snap), 'gepa-fold-examples')}"
        f"{fold('How the best prompt was found, step by step', lineage_html(snap), 'gepa-fold-lineage')}</div>"
    )


def _changes_title(snap: RunSnapshot) -> str:
    changes = example_changes(snap)
    if snap.best_index == snap.seed_index:
        return f"The examples it gets wrong ({len(changes.still_wrong)} of {changes.total})"
    return (f"The examples: {len(changes.fixed)} fixed, {len(changes.broken)} broken, "
            f"{len(changes.still_wrong)} still wrong (of {changes.total})")


def summary_text(snap: RunSnapshot) -> str:
    """What changed and why, in a sentence or two: the scores, the examples fixed and broken, the
    sentences the best prompt added on its way from the seed."""
    seed, best = snap.seed_row, snap.best_row
    if seed is None or best is None:
        return "No candidate scored yet."
    if snap.best_index == snap.seed_index:
        return f"No candidate beat the seed ({float(seed['score']):.3f}): the best prompt is the seed."
    changes = example_changes(snap)
    text = (f"Candidate {snap.best_index} scores {float(best['score']):.3f} against the seed's "
            f"{float(seed['score']):.3f}")
    if changes.known:
        text += f": it fixed {len(changes.fixed)} of {changes.total} examples and broke {len(changes.broken)}"
    added = [phrase for step in lineage(snap)[1:] for phrase in step.added]
    if added:
        shown = "; ".join(f"'{shorten(p, 90)}'" for p in added[:2])
        text += f". It added {shown}" + (f" and {len(added) - 2} more" if len(added) > 2 else "")
    return text + "."


def side_by_side_html(snap: RunSnapshot) -> str:
    """The side-by-side view under its title (the same in the magic, the panel and compare())."""
    return heading(SIDE_BY_SIDE) + comparison_html(snap)


def _pair_text(name: str | None, seed: str, best: str) -> str:
    where = f" ({name})" if name else ""
    if seed == best:
        if name:
            return f"--- {name} (unchanged) ---\n{seed}"
        return f"--- seed ---\n{seed}\n--- best ---\n{best}\n--- diff ---\n(best prompt is the seed)"
    diff = unified_text(seed, best, "seed", "best")
    return f"--- seed{where} ---\n{seed}\n--- best{where} ---\n{best}\n--- diff{where} ---\n{diff}"


def comparison_text(snap: RunSnapshot) -> str:
    """The same for a terminal: both prompts (per prompt, with several), a unified diff, the score table."""
    pairs = snap.prompt_pairs
    prompts = "\n".join(_pair_text(name if len(pairs) > 1 else None, seed, best) for name, seed, best in pairs)
    rows = "\n".join(f"  {label:<24} {_fmt(s):>8} {_fmt(b):>8}" for label, s, b in _score_rows(snap))
    text = (f"{prompts}\n--- scores ---\n  {'':<24} {'seed':>8} {'best':>8}\n{rows}\n{summary_text(snap)}\n"
            + "\n".join(_footer(snap)))
    return "\n".join(filter(None, [text, changes_text(snap), lineage_text(snap)]))


class Comparison:
    """What `gepa_jupyter.compare(run)` returns: HTML in Jupyter, text elsewhere."""

    def __init__(self, snap: RunSnapshot):
        self.snapshot = snap

    def _repr_html_(self) -> str:
        return side_by_side_html(self.snapshot)

    def __repr__(self) -> str:
        return comparison_text(self.snapshot)
