"""The lineage of the best prompt: seed -> ... -> best, each step's score, the words it added and
removed, and where its text came from (the proposal that made it, `run.proposals`)."""

from dataclasses import dataclass
from html import escape

import pandas as pd

from gepa_jupyter.core.insight.proposal_log import ACCEPTED
from gepa_jupyter.core.insight.text import shorten
from gepa_jupyter.views.diff import sentence_changes
from gepa_jupyter.views.state import RunSnapshot
from gepa_jupyter.views.style import column, heading, note, table

LINEAGE = "How the best prompt was found: seed → best"
NO_BETTER = "No candidate beat the seed: the best prompt is the seed."
PHRASE_CHARS = 160
PHRASES = 3


@dataclass(frozen=True)
class Step:
    candidate: int
    iteration: int
    score: float
    added: tuple[str, ...]  # phrases the step added to its parent's prompt
    removed: tuple[str, ...]
    origin: str  # where its text came from ("seed" for the seed)
    feedback: str  # what the reflection was shown


class Lineage(list):
    """The steps from the seed to the best (a list of `Step`), shown as a styled table in Jupyter
    and as text elsewhere (scores to three decimals), not as a raw list."""

    def __init__(self, steps=(), snap: RunSnapshot | None = None):
        super().__init__(steps)
        self.snapshot = snap

    def _repr_html_(self) -> str:
        if self.snapshot is None:
            return f"<pre>{escape(repr(self))}</pre>"
        return lineage_html(self.snapshot, always=True)

    def __repr__(self) -> str:
        if self.snapshot is None:
            return f"Lineage({len(self)} steps)"
        return lineage_text(self.snapshot, always=True)

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(repr(self))


def lineage(snap: RunSnapshot) -> list[Step]:
    """The steps from the seed to the best candidate, seed first (empty before the seed is scored)."""
    frame = snap.scores
    if frame.empty or snap.best_index is None:
        return []
    rows = {int(r["candidate"]): r for _, r in frame.iterrows()}
    accepted = {p.candidate: p for p in snap.proposals if p.outcome == ACCEPTED}
    chain: list[int] = []
    seen: set[int] = set()
    index: int | None = snap.best_index
    while index is not None and index in rows and index not in seen:
        seen.add(index)
        chain.append(index)
        parent = rows[index]["parent"]
        index = None if pd.isna(parent) else int(parent)
    steps = []
    for position, candidate in enumerate(reversed(chain)):
        row = rows[candidate]
        parent_prompt = rows[chain[len(chain) - position]]["prompt"] if position else ""
        added, removed = sentence_changes(parent_prompt, row["prompt"]) if position else ([], [])
        proposal = accepted.get(candidate)
        origin = "user" if candidate in snap.user_candidates else "seed" if not position else (
            proposal.origin if proposal else "not recorded")
        steps.append(Step(candidate, int(row["iteration"]), float(row["score"]), tuple(added), tuple(removed), origin,
                          proposal.feedback if proposal else ""))
    return steps


def _phrases(phrases, sign: str) -> str:
    shown = [f"{sign} {shorten(p, PHRASE_CHARS)}" for p in phrases[:PHRASES]]
    if len(phrases) > PHRASES:
        shown.append(f"({len(phrases) - PHRASES} more changes)")
    return "\n".join(shown)


def _only_the_seed(steps: list[Step]) -> bool:
    """The best is the seed (a candidate the user wrote has no parent: its lineage starts with it)."""
    return len(steps) < 2 and (not steps or steps[0].origin == "seed")


def lineage_html(snap: RunSnapshot, always: bool = False) -> str:
    """One table row per step; escaped. Empty when the best is the seed, unless `always`."""
    steps = lineage(snap)
    if not steps and always:
        return heading(LINEAGE) + note("No candidate scored yet.")
    if _only_the_seed(steps) and not always:
        return ""
    rows = []
    for step in steps:
        changed = "\n".join(filter(None, [_phrases(step.added, "+"), _phrases(step.removed, "−")])) or (
            "the seed" if step.origin == "seed" else "written by the user" if step.origin == "user" else "(same words)")
        what = f'<span style="white-space:pre-wrap">{escape(changed)}</span>'
        origin = escape(step.origin) + (f'<br><span style="opacity:.75">shown: {escape(shorten(step.feedback, 200))}'
                                        f"</span>" if step.feedback else "")
        rows.append([escape(str(step.candidate)), escape(str(step.iteration)), f"{step.score:.3f}", column(what, 30),
                     column(origin, 36)])
    if _only_the_seed(steps):
        return f'<div class="gepa-lineage">{heading(LINEAGE)}{note(NO_BETTER)}</div>'
    return (f'<div class="gepa-lineage">{heading(LINEAGE)}'
            + table(["candidate", "iteration", "score", "what it changed", "where the text came from"], rows,
                    "gepa-lineage-table", {2}) + "</div>")


def lineage_text(snap: RunSnapshot, always: bool = False) -> str:
    steps = lineage(snap)
    if not steps and always:
        return f"--- {LINEAGE.lower()} ---\nNo candidate scored yet."
    if _only_the_seed(steps) and not always:
        return ""
    lines = [f"--- {LINEAGE.lower()} ---"]
    if _only_the_seed(steps):
        return f"{lines[0]}\n{NO_BETTER}"
    for step in steps:
        lines.append(f"  candidate {step.candidate} (iteration {step.iteration}): {step.score:.3f}  [{step.origin}]")
        for line in filter(None, (_phrases(step.added, "+") + "\n" + _phrases(step.removed, "-")).splitlines()):
            lines.append(f"      {line}")
    return "\n".join(lines)
