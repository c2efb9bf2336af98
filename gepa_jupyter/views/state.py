"""RunSnapshot: a consistent, immutable copy of what the views show about a run."""

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from gepa_jupyter.core.events import best_candidate
from gepa_jupyter.core.insight.example_log import ExampleTable
from gepa_jupyter.core.insight.frame import candidates_frame, scorer_columns, usage_totals


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


def snapshot(run) -> RunSnapshot:
    """Copy what the views need from an OptimizationRun (safe while it runs)."""
    candidates = run.candidates
    best = best_candidate(candidates)
    optimizer = getattr(run, "optimizer", None)  # read after the candidates: their per-row results are there
    return RunSnapshot(
        status=run.status,
        prompt_name=run.prompt_name,
        seed_prompt=run.seed_prompt,
        best_prompt=run.best_prompt,
        scores=candidates_frame(candidates, getattr(run, "prompt_names", [run.prompt_name])),
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
        validation_size=getattr(run, "validation_size", 0),
        examples=optimizer.example_log.table() if optimizer else ExampleTable(),  # a watched run has none
        proposals=optimizer.proposal_log.records() if optimizer else (),
        seed_prompts=dict(getattr(run, "seed_prompts", {run.prompt_name: run.seed_prompt})),
        best_prompts=dict(getattr(run, "best_prompts", {run.prompt_name: run.best_prompt})),
        registered_prompt_uris=dict(getattr(run, "registered_prompt_uris", {})),
        models={k: redact_uri(v) for k, v in getattr(run, "models", {}).items()},
    )


def redact_uri(uri: str | None) -> str | None:
    """A tracking URI without any user:password@ part."""
    if not uri or "@" not in uri:
        return uri
    parts = urlsplit(uri)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
