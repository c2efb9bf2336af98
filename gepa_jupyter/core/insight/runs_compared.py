"""Several runs side by side: what each run was given (models, limits), how it ended, what it found
(seed, best and held-out scores, the best prompts) and what it spent (metric calls, model calls, cost,
time). A `RunFacts` per run, read from a live OptimizationRun or a WatchedRun (the store's copy,
core.durability.stored_runs) and the MLflow run's tags and params; `facts_frame` makes the DataFrame.
"""

from dataclasses import dataclass, field

from gepa_jupyter.core.events import best_candidate
from gepa_jupyter.core.inputs.prompts import join_sections
from gepa_jupyter.core.insight.frame import usage_totals
from gepa_jupyter.core.tracking import schema

COLUMNS = ["run_id", "run_name", "status", "ended_by", "model", "reflection_model", "judges", "scorers",
           "max_metric_calls", "max_cost", "max_time", "candidates", "seed_score", "best_score", "best_candidate",
           "holdout_seed_score", "holdout_best_score", "metric_calls", "model_calls", "cost_usd", "unpriced_roles",
           "elapsed_s", "best_prompt"]


@dataclass(frozen=True)
class RunFacts:
    """One run, as the comparison shows it."""

    run_id: str
    run_name: str
    status: str  # running / finished / stopped / failed / died
    ended_by: str  # max_metric_calls / max_cost / max_time / user (a stop) / error; "" while it runs
    models: dict  # model / reflection_model -> URI (what the newest start used)
    judges: str  # the judges' models, as the run's params name them
    scorers: str
    max_metric_calls: int
    max_cost: float | None  # USD, when the run had that limit
    max_time: float | None  # seconds, when the run had that limit
    candidates: int
    seed_score: float | None
    best_score: float | None
    best_candidate: int | None
    holdout_seed_score: float | None
    holdout_best_score: float | None
    metric_calls: int
    model_calls: int
    cost: float
    unpriced: tuple  # roles that made model calls litellm has no price for (their cost is unknown, not 0)
    elapsed: float
    seed_prompts: dict = field(default_factory=dict)  # name -> text
    best_prompts: dict = field(default_factory=dict)

    @property
    def best_prompt(self) -> str:
        """The best prompt (with several prompts, their `### name` sections)."""
        return join_sections(self.best_prompts) if self.best_prompts else ""

    def row(self) -> list:
        return [self.run_id, self.run_name, self.status, self.ended_by, self.models.get("model"),
                self.models.get("reflection_model"), self.judges, self.scorers, self.max_metric_calls, self.max_cost,
                self.max_time, self.candidates, self.seed_score, self.best_score, self.best_candidate,
                self.holdout_seed_score, self.holdout_best_score, self.metric_calls, self.model_calls,
                self.known_cost, ", ".join(self.unpriced), round(self.elapsed, 1), self.best_prompt]

    @property
    def known_cost(self) -> float | None:
        """The USD cost; None when no model call had a price (unknown, not free)."""
        return None if self.model_calls and self.cost == 0 and self.unpriced else self.cost


def run_facts(run, tags: dict, params: dict, run_name: str = "") -> RunFacts:
    """The facts of `run` (a live OptimizationRun or a WatchedRun) with its MLflow run's tags and params."""
    candidates = run.candidates
    best = best_candidate(candidates)
    calls, cost = usage_totals(run.usage)
    status = run.status
    if status == "failed" and schema.DIED_TAG in tags:
        status = "died"
    held = run.holdout_scores or {}
    return RunFacts(
        run_id=run.run_id or "", run_name=run_name, status=status,
        ended_by=ended_by(run.status, tags, getattr(run, "ended_by", None)),
        models=dict(run.models), judges=_param(params, "judge_models") or "", scorers=_param(params, "scorers") or "",
        max_metric_calls=int(run.max_metric_calls or 0),
        max_cost=_limit(run, params, "max_cost"), max_time=_limit(run, params, "max_time"),
        candidates=len(candidates), seed_score=candidates[0].score if candidates else None,
        best_score=best.score if best else None, best_candidate=best.index if best else None,
        holdout_seed_score=held.get("seed", {}).get("score"), holdout_best_score=held.get("best", {}).get("score"),
        metric_calls=int(run.metric_calls), model_calls=calls, cost=cost, unpriced=unpriced(run.usage),
        elapsed=float(run.elapsed),
        seed_prompts=dict(run.seed_prompts), best_prompts=dict(run.best_prompts))


def unpriced(usage: dict) -> tuple:
    """The roles of a usage snapshot that made model calls and cost nothing: no known price."""
    return tuple(role for role, u in usage.items()
                 if isinstance(u, dict) and int(u.get("calls", 0)) > 0 and not float(u.get("cost", 0.0)))


def ended_by(status: str, tags: dict, known: str | None = None) -> str:
    """The limit that ended a run: the run's own word (`known`, else its ENDED_BY_TAG), else what its
    status says (a run that finished by itself used its metric-call budget: the only limit before
    max_cost and max_time were stored)."""
    told = known or tags.get(schema.ENDED_BY_TAG)
    if told:
        return str(told)
    return {"finished": "max_metric_calls", "stopped": "user", "failed": "error"}.get(status, "")


def facts_frame(facts: list[RunFacts]):
    """A DataFrame, one row per run (COLUMNS)."""
    import pandas as pd

    return pd.DataFrame([f.row() for f in facts], columns=COLUMNS)


def _limit(run, params: dict, option: str) -> float | None:
    """A run's max_cost or max_time: the run's own (newer runs have it), else its param."""
    value = getattr(run, option, None)
    return float(value) if isinstance(value, (int, float)) else schema.stored_number(_param(params, option))


def _param(params: dict, option: str) -> str | None:
    value = params.get(schema.param(option))
    return None if value in (None, "", "None") else value
