"""The proposals: where each candidate came from and why the others were thrown away (`run.proposals`)."""

from collections import Counter
from html import escape

from gepa_jupyter.core.insight.proposal_log import ACCEPTED, DUPLICATE, NOT_BETTER, joined_text
from gepa_jupyter.core.insight.text import shorten
from gepa_jupyter.views.state import RunSnapshot
from gepa_jupyter.views.style import column, expandable, heading, note, table

SHOWN = 20  # the most recent proposals drawn (run.proposals has all)
QUIET_DETAILS = (ACCEPTED, DUPLICATE, NOT_BETTER)  # the outcome and the scores say it all
TITLE = "Proposals: where the candidates came from, and why the others were thrown away"


def proposals_summary(snap: RunSnapshot) -> str:
    """'9 proposals: 3 accepted, 4 not better on the minibatch, 2 dropped a variable'."""
    counts = Counter(p.outcome for p in snap.proposals)
    total = len(snap.proposals)
    parts = ", ".join(f"{n} {outcome}" for outcome, n in counts.most_common())
    return f"{total} proposal{'' if total == 1 else 's'}" + (f": {parts}" if parts else "")


def _score(value) -> str:
    return "—" if value is None else f"{value:.2f}"


def proposals_html(snap: RunSnapshot) -> str:
    """A count by outcome and the last `SHOWN` proposals; escaped."""
    if not snap.proposals:
        return ""
    shown = snap.proposals[-SHOWN:]
    rows = []
    for p in shown:
        outcome = p.outcome + (f" → candidate {p.candidate}" if p.candidate is not None else "")
        if p.detail and p.outcome not in QUIET_DETAILS:
            outcome += f" ({p.detail})"
        rows.append([
            escape(str(p.iteration)), escape("—" if p.parent is None else str(p.parent)),
            escape(outcome), f"{_score(p.parent_minibatch_score)} → {_score(p.minibatch_score)}",
            escape(", ".join(map(str, p.minibatch))), escape(p.origin),
            column(escape(shorten(p.feedback, 240)), 20),
            column(expandable(joined_text(p.proposed), 120, 3000, "run.proposals"), 20),
        ])
    head = ["iteration", "parent", "outcome", "minibatch score", "rows", "text from", "feedback shown",
            "proposed prompt"]
    more = note(f"the last {SHOWN} of {len(snap.proposals)} (run.proposals has all)") if len(snap.proposals) > SHOWN else ""
    legend = note("minibatch score: the parent's → the proposal's mean score on the rows it was made from; "
                  "feedback shown: those rows' failures, as the reflection read them.")
    return (f'<div class="gepa-proposals">{heading(TITLE)}{note(proposals_summary(snap))}{legend}'
            f"{table(head, rows, 'gepa-proposals-table')}{more}</div>")


def proposals_text(snap: RunSnapshot) -> str:
    if not snap.proposals:
        return ""
    lines = [f"--- {proposals_summary(snap)} ---"]
    for p in snap.proposals[-SHOWN:]:
        to = f" -> candidate {p.candidate}" if p.candidate is not None else ""
        lines.append(f"  iteration {p.iteration}, parent {p.parent}: {p.outcome}{to} "
                     f"(minibatch {_score(p.parent_minibatch_score)} -> {_score(p.minibatch_score)}; {p.origin})")
        lines.append(f"      {shorten(joined_text(p.proposed), 150)}")
    return "\n".join(lines)
