"""Every proposal of a run, accepted or not: what `run.proposals` shows.

`ProposalLog` is fed by the reflection guard (core/optimization/proposer.py), which sees each reflection's
parent, feedback, proposed texts, dropped variables and origin. Then gepa tells what became of
each proposal: its acceptance criterion, wrapped (`RecordingAcceptance`), gives the verdict and
the minibatch scores of each evaluated proposal; as a gepa callback the log sees which became
candidates (`on_valset_evaluated`) and the reasons of the rejections (`on_candidate_rejected`,
in proposal order). gepa keeps the first of identical selected proposals (the others are
duplicates). An iteration's proposals are settled at `on_iteration_end`, which gepa sends even
when a stop or the budget ends the run.
"""

import threading
from dataclasses import dataclass, field, replace
from typing import Any

from gepa_jupyter.core.events import observer
from gepa_jupyter.core.inputs.prompts import join_sections
from gepa_jupyter.core.insight.text import shorten
from gepa_jupyter.core.tracking import schema

ACCEPTED = "accepted"
NOT_BETTER = "not better on the minibatch"
DROPPED = "dropped a variable"
DUPLICATE = "duplicate"
NOT_SELECTED = "not selected"
UNFINISHED = "not scored: the run ended"
PENDING = "pending"
FEEDBACK_CHARS = 400
ORIGIN_NEEDS = {"format": "answer format", "case": "one case"}
ORIGIN_SOURCES = {"model": "model's sentence", "fixed": "rule's fixed sentence"}


@dataclass(frozen=True)
class Proposal:
    """One reflection's proposal and what became of it."""

    iteration: int
    parent: int | None  # candidate index of the parent prompt
    components: tuple[str, ...]  # prompt names the reflection rewrote
    minibatch: tuple  # data rows (DataFrame index labels) of the rows reflected on
    feedback: str  # the failures the reflection model was shown, shortened
    proposed: dict  # prompt name -> proposed text (as proposed, before any check)
    origin: str  # "reflection model", or the small reflector's rule or model sentence
    outcome: str = PENDING
    detail: str = ""  # gepa's or the variable check's own words
    parent_minibatch_score: float | None = None
    minibatch_score: float | None = None
    candidate: int | None = None  # its candidate index when accepted
    passed: bool | None = None  # the acceptance criterion's verdict on its minibatch scores
    key: tuple = field(default=(), compare=False, repr=False)  # the child's prompts, to match gepa's events
    positions: tuple = field(default=(), compare=False, repr=False)  # its minibatch's training-set positions


class ProposalLog:
    """Collects proposals and their outcomes (see the module docstring); thread-safe snapshots."""

    def __init__(self, trainset: list[dict] | None = None, candidates: list | None = None):
        self.trainset = list(trainset or [])
        self.candidates = candidates if candidates is not None else []  # the optimizer's CandidateEvents
        self._by_inputs = {id(r.get("inputs")): i for i, r in enumerate(self.trainset)}
        self._entries: list[Proposal] = []
        self._rejections: list[str] = []
        self._accepted: list[tuple[int, tuple, int]] = []  # (iteration, prompts key, candidate index)
        self._lock = threading.Lock()

    def acceptance(self, criterion) -> "RecordingAcceptance":
        """gepa's `acceptance_criterion` (a name or an object), wrapped to report its verdicts here."""
        return RecordingAcceptance(_criterion(criterion), self)

    # ----- from the reflection guard and the acceptance criterion ---------------------------------
    @observer
    def reflected(self, iteration: int, parent: dict[str, str], dataset: dict, proposed: dict[str, str],
                  metadata: dict, dropped: dict[str, str]) -> None:
        """One reflection's result: `proposed` texts (before the check), `dropped` {name: reason}."""
        kept = {name: text for name, text in proposed.items() if name not in dropped}
        positions = self._positions(dataset)
        entry = Proposal(
            iteration=iteration, parent=self._index_of(parent), components=tuple(proposed),
            minibatch=tuple(self.trainset[i].get("row", i) for i in positions), feedback=feedback_summary(dataset),
            proposed=dict(proposed), origin=origin(metadata, proposed),
            parent_minibatch_score=_mean(r.get("score") for r in _first_rows(dataset)),
            key=_key({**parent, **kept}), positions=positions)
        if not kept:
            entry = replace(entry, outcome=DROPPED, detail="; ".join(dropped.values()))
        elif dropped:
            entry = replace(entry, detail="; ".join(dropped.values()))
        with self._lock:
            self._entries.append(entry)

    @observer
    def judged(self, iteration: int, proposal, verdict: bool) -> None:
        """The acceptance criterion's verdict on a gepa CandidateProposal (and its minibatch scores)."""
        parents = list(proposal.parent_program_ids or [])
        key, positions = _key(proposal.candidate), tuple(proposal.subsample_indices or ())
        self._update_first(
            lambda e: (e.iteration == iteration and e.outcome == PENDING and e.passed is None and e.key == key
                       and e.positions == positions and (not parents or e.parent == parents[0])),
            lambda e: replace(e, passed=verdict, parent_minibatch_score=_mean(proposal.subsample_scores_before or []),
                              minibatch_score=_mean(proposal.subsample_scores_after or [])))

    # ----- gepa callbacks -----------------------------------------------------------------
    @observer
    def on_valset_evaluated(self, event) -> None:
        with self._lock:
            self._accepted.append((event["iteration"], _key(event["candidate"]), int(event["candidate_idx"])))

    @observer
    def on_candidate_rejected(self, event) -> None:
        with self._lock:
            self._rejections.append(str(event.get("reason", "")))

    @observer
    def on_iteration_end(self, event) -> None:
        """Settle the iteration (see the module docstring)."""
        iteration = event["iteration"]
        with self._lock:
            reasons = list(self._rejections)
            accepted = [(key, index) for at, key, index in self._accepted if at == iteration]
            self._rejections, self._accepted = [], []
            selected: set = set()
            for i, entry in enumerate(self._entries):
                if entry.iteration == iteration and entry.outcome == PENDING:
                    self._entries[i] = _settle(entry, reasons, accepted, selected)

    def close(self) -> None:
        """The optimization ended: whatever is still pending was never decided."""
        with self._lock:
            self._entries = [replace(e, outcome=UNFINISHED) if e.outcome == PENDING else e for e in self._entries]

    # ----- reading ------------------------------------------------------------------------
    def records(self) -> tuple[Proposal, ...]:
        with self._lock:
            return tuple(self._entries)

    def frame(self):
        return proposals_frame(self.records())

    def _update_first(self, match, change) -> None:
        with self._lock:
            for i, entry in enumerate(self._entries):
                if match(entry):
                    self._entries[i] = change(entry)
                    return

    def _index_of(self, prompts: dict[str, str]) -> int | None:
        found = [c.index for c in list(self.candidates) if c.prompts == prompts]
        return found[-1] if found else None

    def _positions(self, dataset: dict) -> tuple:
        """Training-set positions of the rows reflected on (gepa's minibatch ids)."""
        positions = []
        for item in _first_rows(dataset):
            inputs = item.get("inputs") if isinstance(item, dict) else None
            position = self._by_inputs.get(id(inputs))
            if position is None:  # not our evaluation harness: the inputs are a copy
                position = next((i for i, r in enumerate(self.trainset) if r.get("inputs") == inputs), None)
            if position is not None:
                positions.append(position)
        return tuple(positions)


class RecordingAcceptance:
    """A gepa AcceptanceCriterion: the run's criterion, its verdicts reported to a ProposalLog.

    `reject_reason` keeps gepa's own wording for its built-in criteria.
    """

    def __init__(self, inner, log: ProposalLog):
        self.inner = inner
        self.log = log

    def should_accept(self, proposal, state) -> bool:
        verdict = bool(self.inner.should_accept(proposal, state))
        self.log.judged(state.i + 1, proposal, verdict)
        return verdict

    def reject_reason(self, proposal, state) -> str:
        custom = getattr(self.inner, "reject_reason", None)
        if custom is not None:
            return custom(proposal, state)
        from gepa_jupyter.core.upstream import ImprovementOrEqualAcceptance, StrictImprovementAcceptance

        old, new = sum(proposal.subsample_scores_before or []), sum(proposal.subsample_scores_after or [])
        if isinstance(self.inner, (StrictImprovementAcceptance, ImprovementOrEqualAcceptance)):
            return f"New subsample score {new} not better than old score {old}"
        return f"Candidate rejected by acceptance criterion (old_sum={old}, new_sum={new})"


def _criterion(criterion):
    """gepa's acceptance criterion from its name ('strict_improvement', 'improvement_or_equal') or itself."""
    if not isinstance(criterion, str):
        return criterion
    from gepa_jupyter.core.upstream import ImprovementOrEqualAcceptance, StrictImprovementAcceptance

    names = {"strict_improvement": StrictImprovementAcceptance, "improvement_or_equal": ImprovementOrEqualAcceptance}
    if criterion not in names:
        raise ValueError(f"Unknown acceptance_criterion: {criterion}. Supported strategies: {', '.join(names)}")
    return names[criterion]()


def _settle(entry: Proposal, reasons: list[str], accepted: list, selected: set) -> Proposal:
    """An evaluated proposal's outcome. gepa selects the proposals that passed, keeps the first of
    identical ones, validates those in order and reports the others' rejections in order."""
    def rejected(fallback: str = UNFINISHED) -> Proposal:
        reason = reasons.pop(0) if reasons else None
        return replace(entry, outcome=rejection_outcome(reason) if reason else fallback,
                       detail=_join(entry.detail, reason or ""))

    if entry.passed is False:
        return rejected()
    if entry.key in selected:
        return rejected()  # a duplicate of one selected before it
    selected.add(entry.key)
    match = next((a for a in accepted if a[0] == entry.key), None)
    if match is not None:
        accepted.remove(match)
        return replace(entry, outcome=ACCEPTED, candidate=match[1])
    if reasons and (entry.passed is None or reasons[0].lower().startswith("passed acceptance")):
        return rejected()
    return replace(entry, outcome=UNFINISHED)


def proposals_frame(proposals) -> Any:
    """A DataFrame, one row per proposal, oldest first."""
    import pandas as pd

    columns = ["iteration", "parent", "component", "minibatch", "parent_minibatch_score", "minibatch_score",
               "outcome", "candidate", "origin", "feedback", "proposed_prompt", "detail"]
    data = [[p.iteration, p.parent, ", ".join(p.components), list(p.minibatch), p.parent_minibatch_score,
             p.minibatch_score, p.outcome, p.candidate, p.origin, p.feedback, joined_text(p.proposed), p.detail]
            for p in proposals]
    frame = pd.DataFrame(data, columns=columns)
    return frame.astype({"parent": "Int64", "candidate": "Int64"}) if not frame.empty else frame


def joined_text(prompts: dict[str, str]) -> str:
    """One prompt's text, or several as `### name` sections (as the magic's cell body writes them)."""
    return join_sections(prompts) if prompts else ""


def rejection_outcome(reason: str) -> str:
    lowered = reason.lower()
    if lowered.startswith("duplicate"):
        return DUPLICATE
    if lowered.startswith("passed acceptance"):
        return NOT_SELECTED
    return NOT_BETTER


def origin(metadata: dict, proposed: dict) -> str:
    """Where the proposed text came from: the small reflector says which need and which source."""
    parts = []
    for name in proposed:
        meta = (metadata or {}).get(schema.proposal_metadata(name))
        if isinstance(meta, dict) and meta.get("source"):
            source = ORIGIN_SOURCES.get(meta["source"], meta["source"])
            need = meta.get("need") or ""
            need = ORIGIN_NEEDS.get(need, need)
            parts.append(f"small reflector: {source}" + (f" ({need})" if need else ""))
    return "; ".join(dict.fromkeys(parts)) or "reflection model"


def feedback_summary(dataset: dict, limit: int = FEEDBACK_CHARS) -> str:
    """The rows the reflection read, failures first: '"input" -> output (expected X, score 0)'."""
    rows = sorted(_first_rows(dataset), key=lambda r: _number(r.get("score")))
    parts = []
    for row in rows:
        if not isinstance(row, dict) or "inputs" not in row:
            parts.append(shorten(row, 160))
            continue
        inputs = row.get("inputs")
        shown = " / ".join(map(str, inputs.values())) if isinstance(inputs, dict) else inputs
        expected = row.get("expectations")
        if isinstance(expected, dict) and set(expected) == {"expected_response"}:
            expected = expected["expected_response"]
        why = "; ".join(str(v) for v in (row.get("rationales") or {}).values() if v)
        text = (f'"{shorten(shown, 80)}" -> {shorten(row.get("outputs"), 60)} '
                f'(expected {shorten(expected, 40)}, score {_number(row.get("score")):.2g}'
                + (f"; {shorten(why, 80)}" if why else "") + ")")
        parts.append(text)
    return shorten(" | ".join(parts), limit)


def _key(prompts: dict) -> tuple:
    return tuple(sorted(dict(prompts).items()))


def _first_rows(dataset: dict) -> list:
    return list(next(iter((dataset or {}).values()), []) or [])


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _mean(values) -> float | None:
    numbers = [_number(v) for v in values]
    return sum(numbers) / len(numbers) if numbers else None


def _join(*texts: str) -> str:
    return "; ".join(t for t in texts if t)
