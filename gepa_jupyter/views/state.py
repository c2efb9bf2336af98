"""RunSnapshot: a consistent, immutable copy of what the views show about a run, and RunView: what
they read from one (the live OptimizationRun and the WatchedRun both have it)."""

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

from gepa_jupyter.core.events import best_candidate
from gepa_jupyter.core.insight.example_log import ExampleTable
from gepa_jupyter.core.insight.frame import candidates_frame, scorer_columns, usage_totals


@runtime_checkable
class RunView(Protocol):
    """What `snapshot(run)` reads: core.runtime.run.OptimizationRun (live) and
    core.durability.watched_run.WatchedRun (read from MLflow) both provide it. A live run also has
    `optimizer` (per-row results and proposals)."""

    @property
    def candidates(self) -> list: ...  # CandidateEvent, in step order
    @property
    def status(self) -> str: ...
    @property
    def prompt_name(self) -> str: ...
    @property
    def prompt_names(self) -> list[str]: ...
    @property
    def seed_prompt(self) -> str: ...
    @property
    def best_prompt(self) -> str: ...
    @property
    def seed_prompts(self) -> dict[str, str]: ...
    @property
    def best_prompts(self) -> dict[str, str]: ...
    @property
    def metric_calls(self) -> int: ...
    @property
    def max_metric_calls(self) -> int: ...
    @property
    def elapsed(self) -> float: ...
    @property
    def usage(self) -> dict: ...
    @property
    def holdout_scores(self) -> dict: ...
    @property
    def error(self) -> str | None: ...
    @property
    def run_id(self) -> str | None: ...
    @property
    def experiment_id(self) -> str | None: ...
    @property
    def tracking_uri(self) -> str | None: ...
    @property
    def registered_prompt_uri(self) -> str | None: ...
    @property
    def registered_prompt_uris(self) -> dict[str, str]: ...
    @property
    def optimized_alias(self) -> bool: ...
    @property
    def invalid_proposals(self) -> int: ...
    @property
    def activity(self) -> str: ...
    @property
    def validation_size(self) -> int: ...
    @property
    def models(self) -> dict[str, str]: ...
    @property
    def ended_by(self) -> str | None: ...
    @property
    def max_cost(self) -> float | None: ...
    @property
    def max_time(self) -> float | None: ...


if TYPE_CHECKING:  # mypy checks that both runs are RunViews
    from gepa_jupyter.core.runtime.run import OptimizationRun
    from gepa_jupyter.core.durability.watched_run import WatchedRun

    def _both_are_views(live: OptimizationRun, watched: WatchedRun) -> tuple[RunView, RunView]:
        return live, watched


@dataclass(frozen=True)
class RunSnapshot:
    status: str
    prompt_name: str
    seed_prompt: str
    best_prompt: str
    scores: Any  # pandas DataFrame, one row per candidate
    metric_calls: int = 0
    max_metric_calls: int = 0
    elapsed: float = 0.0
    usage: dict = field(default_factory=dict)
    holdout_scores: dict = field(default_factory=dict)
    error: str | None = None
    run_id: str | None = None
    experiment_id: str | None = None
    tracking_uri: str | None = None
    registered_prompt_uri: str | None = None
    optimized_alias: bool = False
    invalid_proposals: int = 0
    best_index: int | None = None  # candidate number of the best (core.events.best_candidate)
    activity: str = ""
    validation_size: int = 0
    examples: ExampleTable = field(default_factory=ExampleTable)  # per-row results (`run.examples`)
    proposals: tuple = ()  # core.insight.proposal_log.Proposal, oldest first (`run.proposals`)
    seed_prompts: dict = field(default_factory=dict)  # name -> seed text (one entry for one prompt)
    best_prompts: dict = field(default_factory=dict)  # name -> best text
    registered_prompt_uris: dict = field(default_factory=dict)  # name -> prompts:/name/version
    models: dict = field(default_factory=dict)  # model / reflection_model -> the URI the newest start uses
    ended_by: str | None = None  # core.inputs.budget.ENDED_BY once the run ended
    max_cost: float | None = None
    max_time: float | None = None
    notices: tuple = ()  # what the run told up front (e.g. a model with no known price)

    @property
    def user_candidates(self) -> set[int]:
        """The candidates the user wrote (run.add_candidate), by number."""
        frame = self.scores
        if frame.empty or "origin" not in frame:
            return set()
        return {int(c) for c, origin in zip(frame["candidate"], frame["origin"]) if origin == "user"}

    @property
    def paused(self) -> bool:
        return self.status == "running" and self.activity == "paused"

    @property
    def seed_row(self):
        return None if self.scores.empty else self.scores.iloc[0]

    @property
    def best_row(self):
        if self.scores.empty or self.best_index is None:
            return None
        rows = self.scores[self.scores["candidate"] == self.best_index]
        return rows.iloc[0] if not rows.empty else None

    @property
    def prompt_pairs(self) -> list[tuple[str, str, str]]:
        """(name, seed text, best text) for each prompt; one pair built from seed/best_prompt if not given."""
        if not self.seed_prompts:
            return [(self.prompt_name, self.seed_prompt, self.best_prompt)]
        return [(name, text, self.best_prompts.get(name, text)) for name, text in self.seed_prompts.items()]

    @property
    def seed_index(self) -> int | None:
        return None if self.scores.empty else int(self.scores["candidate"].iloc[0])

    @property
    def scorer_names(self) -> list[str]:
        return scorer_columns(self.scores)

    @property
    def cost(self) -> float:
        return usage_totals(self.usage)[1]

    @property
    def model_calls(self) -> int:
        return usage_totals(self.usage)[0]


def snapshot(run: RunView) -> RunSnapshot:
    """Copy what the views need from a live or a watched run (safe while it runs)."""
    candidates = run.candidates
    best = best_candidate(candidates)
    optimizer = getattr(run, "optimizer", None)  # read after the candidates: their per-row results are there
    return RunSnapshot(
        status=run.status if getattr(run, "done", True) else "running",  # ended views once its MLflow run ended
        prompt_name=run.prompt_name,
        seed_prompt=run.seed_prompt,
        best_prompt=run.best_prompt,
        scores=candidates_frame(candidates, run.prompt_names),
        metric_calls=run.metric_calls,
        max_metric_calls=run.max_metric_calls,
        elapsed=run.elapsed,
        usage=run.usage,
        holdout_scores=dict(run.holdout_scores),
        error=run.error,
        run_id=run.run_id,
        experiment_id=run.experiment_id,
        tracking_uri=redact_uri(run.tracking_uri),
        registered_prompt_uri=run.registered_prompt_uri,
        optimized_alias=run.optimized_alias,
        invalid_proposals=run.invalid_proposals,
        best_index=best.index if best else None,
        activity=run.activity,
        validation_size=run.validation_size,
        examples=optimizer.example_log.table() if optimizer else ExampleTable(),  # a watched run has none
        proposals=optimizer.proposal_log.records() if optimizer else (),
        seed_prompts=dict(run.seed_prompts),
        best_prompts=dict(run.best_prompts),
        registered_prompt_uris=dict(run.registered_prompt_uris),
        models={k: redact_uri(v) for k, v in run.models.items()},
        ended_by=run.ended_by,
        max_cost=run.max_cost,
        max_time=run.max_time,
        notices=tuple(getattr(run, "notices", ())),  # a live run's; a watched run has none
    )


def redact_uri(uri: str | None) -> str | None:
    """A tracking URI without any user:password@ part."""
    if not uri or "@" not in uri:
        return uri
    parts = urlsplit(uri)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
