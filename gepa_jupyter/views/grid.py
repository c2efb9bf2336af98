"""Which validation examples each candidate gets right: a candidates x examples grid with the
Pareto front and the examples no candidate solves marked, bounded in size.

Rows are candidates (the seed, the best and the Pareto front first when there are more than
`MAX_CANDIDATES`), columns are the examples some candidate gets wrong (those every candidate
gets right are counted, not drawn), `PAGE_EXAMPLES` at a time: at most 30 x 40 cells, under
100 KB of HTML whatever the run's size; `run.examples` has every row.
"""

from dataclasses import dataclass, field
from html import escape

from gepa_jupyter.core.insight.text import shorten
from gepa_jupyter.views.examples import inputs_text
from gepa_jupyter.views.state import RunSnapshot
from gepa_jupyter.views.style import BORDER, PARTIAL_CELL, RIGHT_CELL, TINT_BEST, WRONG_CELL, heading, note

MAX_CANDIDATES = 30
PAGE_EXAMPLES = 40
TITLE = "Which validation examples each candidate gets right"


def pareto_front(snap: RunSnapshot) -> set[int]:
    """gepa's instance Pareto front: for each example the candidates with its highest score (ties
    included), over all examples."""
    front: set[int] = set()
    rows = snap.examples.rows
    for position in range(len(snap.examples.examples)):
        scores = {c: r[position].score for c, r in rows.items() if r[position] is not None}
        if scores:
            top = max(scores.values())
            front |= {c for c, s in scores.items() if s == top}
    return front


@dataclass(frozen=True)
class Grid:
    candidates: list  # candidate indices shown, in order
    columns: list  # core.insight.example_log.Example shown on this page
    page: int
    pages: int
    shown_examples: int  # examples some candidate gets wrong (drawn, over all pages)
    solved_by_all: int
    unsolved: list = field(default_factory=list)  # examples no candidate gets right
    front: set = field(default_factory=set)
    hidden_candidates: int = 0


def _right(score) -> bool:
    return score is not None and score >= 1


def grid(snap: RunSnapshot, page: int = 1) -> Grid | None:
    """What the grid shows on `page` (1-based); None before any candidate has per-row results."""
    table = snap.examples
    candidates = [int(c) for c in snap.scores["candidate"]] if not snap.scores.empty else []
    candidates = [c for c in candidates if table.of(c)]
    if not candidates:
        return None
    front = pareto_front(snap)
    drawn, unsolved, solved = [], [], 0
    for example in table.examples:
        scores = [table.rows[c][example.position] for c in candidates]
        results = [s.score for s in scores if s is not None]
        if results and all(_right(s) for s in results):
            solved += 1
            continue
        drawn.append(example)
        if not any(_right(s) for s in results):
            unsolved.append(example)
    pages = max(1, -(-len(drawn) // PAGE_EXAMPLES))
    page = min(max(1, page), pages)
    shown = candidates
    if len(candidates) > MAX_CANDIDATES:
        first = [c for c in candidates if c in (snap.seed_index, snap.best_index)]
        first += [c for c in candidates if c in front and c not in first]
        rest = [c for c in candidates if c not in first]
        keep = set((first + rest[::-1])[:MAX_CANDIDATES])
        shown = [c for c in candidates if c in keep]
    return Grid(shown, drawn[(page - 1) * PAGE_EXAMPLES:page * PAGE_EXAMPLES], page, pages, len(drawn), solved,
                unsolved, front, len(candidates) - len(shown))


def _summary(snap: RunSnapshot, g: Grid) -> list[str]:
    total = len(snap.examples.examples)
    lines = [f"{total} validation examples: {g.solved_by_all} right with every candidate (not drawn), "
             f"{len(g.unsolved)} right with none, {g.shown_examples - len(g.unsolved)} right with some. "
             f"◆ marks the Pareto front ({len(g.front)} candidates: each is best on some example), ★ the best."]
    if g.unsolved:
        rows = ", ".join(str(e.row) for e in g.unsolved[:20]) + (" …" if len(g.unsolved) > 20 else "")
        lines.append(f"No candidate solves rows {rows}.")
    if g.pages > 1:
        first = (g.page - 1) * PAGE_EXAMPLES + 1
        lines.append(f"Examples {first}-{first + len(g.columns) - 1} of the {g.shown_examples} drawn (page {g.page} "
                     f"of {g.pages}: gepa_jupyter.explain(run, page={g.page % g.pages + 1}) shows the next).")
    if g.hidden_candidates:
        lines.append(f"{g.hidden_candidates} other candidates are not drawn (run.examples has them).")
    return lines


def _mark(result) -> str:
    """✓ right, ✗ wrong (score 0), ~ partly right, · not scored."""
    if result is None:
        return "·"
    return "✓" if _right(result.score) else "✗" if result.score <= 0 else "~"


def _cell(result) -> str:
    if result is None:
        return '<td style="padding:0">·</td>'
    if _right(result.score):
        (background, color), text = RIGHT_CELL, "✓"
    elif result.score <= 0:
        (background, color), text = WRONG_CELL, "✗"
    else:
        (background, color), text = PARTIAL_CELL, f"{result.score:.1f}".lstrip("0")
    return f'<td style="background:{background};color:{color};padding:0">{text}</td>'


def _label(snap: RunSnapshot, candidate: int, front: set) -> str:
    marks = (" ★" if candidate == snap.best_index else "") + (" ◆" if candidate in front else "") + (
        " (user)" if candidate in snap.user_candidates else "")
    return f"{candidate}{marks}"


def grid_html(snap: RunSnapshot, page: int = 1) -> str:
    """The grid as escaped HTML, bounded (see the module docstring)."""
    g = grid(snap, page)
    if g is None:
        return ""
    scores = snap.scores.set_index("candidate")
    unsolved = {e.position for e in g.unsolved}
    head = ['<th style="text-align:left;padding:2px 6px">candidate</th><th style="padding:2px 6px">score</th>']
    for example in g.columns:
        title = f"row {example.row}: {shorten(inputs_text(example), 120)} (expected {shorten(example.expected, 40)})"
        mark = ";box-shadow:inset 0 -3px 0 #cf222e" if example.position in unsolved else ""
        head.append(f'<th title="{escape(title, quote=True)}" style="font-size:10px;font-weight:400;'
                    f'min-width:16px;padding:1px 2px{mark}">{escape(str(example.row))}</th>')
    body = []
    for candidate in g.candidates:
        rows = snap.examples.rows[candidate]
        tint = f' style="background:{TINT_BEST};font-weight:600"' if candidate == snap.best_index else ""
        prompt = shorten(scores.loc[candidate, "prompt"], 200) if candidate in scores.index else ""
        score = f"{scores.loc[candidate, 'score']:.3f}" if candidate in scores.index else ""
        cells = "".join(_cell(rows[e.position]) for e in g.columns)
        body.append(f'<tr{tint}><th title="{escape(prompt, quote=True)}" style="text-align:left;padding:1px 6px;'
                    f'white-space:nowrap">{escape(_label(snap, candidate, g.front))}</th>'
                    f'<td style="padding:1px 6px;text-align:right">{score}</td>{cells}</tr>')
    counts = []
    for example in g.columns:
        right = sum(1 for c in g.candidates if _right(getattr(snap.examples.rows[c][example.position], "score", None)))
        counts.append(f'<td style="font-size:10px;padding:0;opacity:.75">{right}</td>')
    body.append(f'<tr><th style="text-align:left;padding:1px 6px;font-weight:400;opacity:.75" colspan="2">'
                f'candidates right</th>{"".join(counts)}</tr>')
    notes = "".join(note(line) for line in _summary(snap, g))
    table = (f'<div style="overflow-x:auto"><table class="gepa-grid-table" style="border-collapse:separate;'
             f'border-spacing:1px;font-size:11px;text-align:center;margin:4px 0;border:1px solid {BORDER}">'
             f'<thead><tr>{"".join(head)}</tr></thead>'
             f'<tbody>{"".join(body)}</tbody></table></div>') if g.columns else ""
    return f'<div class="gepa-grid">{heading(TITLE)}{notes}{table}</div>'


def grid_text(snap: RunSnapshot, page: int = 1) -> str:
    g = grid(snap, page)
    if g is None:
        return ""
    lines = [f"--- {TITLE.lower()} ---", *_summary(snap, g)]
    if g.columns:
        lines.append("rows: " + " ".join(str(e.row) for e in g.columns))
    for candidate in g.candidates:
        rows = snap.examples.rows[candidate]
        cells = "".join(_mark(rows[e.position]) for e in g.columns)
        lines.append(f"  {_label(snap, candidate, g.front):<10} {cells}")
    return "\n".join(lines)
