"""`gepa_jupyter.estimate(prompt, data, **options)`: what a run with these options will spend, before it runs.

The same checks as `optimize` (an InputError before any call), then ONE real call: the seed
prompt on the first training row, through the response cache (the run's first-row check then
reads it back). Its time and tokens, the price map, the workers and gepa's way of spending
metric calls (core.inputs.budget.plan_calls) give the validation size, the iterations the budget
buys, model calls, tokens, cost and time by role, and which limit (max_metric_calls, max_cost,
max_time) binds first. No reflection or judge model is called and no MLflow run is started.

Time: rows run `workers` at a time (the embedded model: one at a time); a served model's call is
taken to last as long as the measured one, the embedded model's in proportion to the tokens it writes
(the geometric mean of the seed's answer on the first row and the expected answers' length, which
the candidates move toward). STARTUP_SECONDS and
ROW_OVERHEAD were measured on the fake server (bench/bench_estimate.py); gepa's acceptance
rate is assumed (ACCEPTANCE): the number of metric calls barely depends on it, iterations do.
"""

import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Unpack

from gepa_jupyter.core.inputs.budget import ACCEPTANCE, MINIBATCH, plan_calls
from gepa_jupyter.core.options import RunOptions

STARTUP_SECONDS = 2.5  # imports, the MLflow run, the seed's registration, the end (measured, bench/)
ROW_OVERHEAD = 0.004  # seconds per row scored beyond the model call (scorers, bookkeeping)
ITERATION_OVERHEAD = 0.2  # seconds per iteration beyond its calls (gepa's bookkeeping, a candidate's logging)
REFLECTION_TEMPLATE_TOKENS = 320  # gepa's reflection prompt around the examples
FEEDBACK_TOKENS = 40  # per example shown to the reflection: score and feedback
SMALL_REFLECTION = (70.0, 25.0)  # (prompt, completion) tokens of a SmallModelReflector call
JUDGE_TOKENS = (250.0, 60.0)  # a judge's instructions and its JSON verdict, beyond the row


@dataclass
class Estimate:
    """What `estimate` returns: `.frame` (a short DataFrame), HTML in Jupyter, text elsewhere; the
    numbers as attributes."""

    validation_rows: int
    iterations: float
    metric_calls: float
    calls: dict  # role -> model calls
    tokens: dict  # role -> (prompt tokens, completion tokens)
    cost: dict  # role -> USD, or None when the role's model has no known price
    seconds: float
    binds: str  # max_metric_calls / max_cost / max_time: the limit reached first
    limits: dict = field(default_factory=dict)  # limit -> metric calls it affords
    measured: dict = field(default_factory=dict)  # the one call: seconds, tokens, cached
    models: dict = field(default_factory=dict)  # role -> what the model is

    @property
    def total_cost(self) -> float | None:
        """USD over every role; None when some role's model has no known price."""
        return None if any(c is None for c in self.cost.values()) else sum(self.cost.values())

    @property
    def frame(self):
        from gepa_jupyter.views.estimate import estimate_frame

        return estimate_frame(self)

    def _repr_html_(self) -> str:
        from gepa_jupyter.views.estimate import estimate_html

        return estimate_html(self)

    def __repr__(self) -> str:
        from gepa_jupyter.views.estimate import estimate_text

        return estimate_text(self)


def estimate(prompt: Any, data: Any, **options: Unpack[RunOptions]) -> Estimate:
    """The calls, tokens, cost and time a run of `optimize(prompt, data, **options)` would spend (see
    the module docstring); one real call on the first row, nothing else."""
    from gepa_jupyter.api import prepare_with_session

    spec, session = prepare_with_session(prompt, data, **options)
    try:
        return _estimate(spec, session)
    finally:
        if spec.on_close:
            spec.on_close()


def _estimate(spec, session) -> Estimate:
    from gepa_jupyter.core.optimization.sampling import proposals_per_iteration

    values = spec.options
    for model in session.models:
        if model.role == "task" and model.local_path is not None:  # its process starts now, not in the timed call
            from gepa_jupyter.models import local

            local.load(model.local_path).warm()
    before = session.meter.work()
    started = time.monotonic()
    output = spec.program(dict(spec.seed_prompts), spec.train_records[0]["inputs"])
    wall = time.monotonic() - started
    task = _delta(session.meter.work().get("task", {}), before.get("task", {}))
    cached = bool(session.usage().get("task", {}).get("cache_hits"))
    replies = max(1, int(task.get("replies", 0)))
    seconds = task.get("seconds") or wall
    first = spec.train_records[0]["inputs"]
    filled = sum(len(str(t)) for t in spec.seed_prompts.values()) + sum(len(str(v)) for v in first.values())
    prompt_tokens = task.get("prompt_tokens") or _tokens_of(filled)
    completion_tokens = task.get("completion_tokens") or _tokens_of(len(str(output)))
    minibatch = spec.gepa_kwargs.get("reflection_minibatch_size") or MINIBATCH
    proposals = proposals_per_iteration(values["proposals"], values["workers"], len(spec.train_records), minibatch)
    rows = len(spec.validation_records)
    judges = [m for m in session.models if m.role == "judge"]
    task_model = getattr(spec.program, "model", None)
    reflection = spec.reflection_model

    # tokens per call, by role
    row_tokens = (prompt_tokens / replies, completion_tokens / replies)
    prompt_size = _tokens_of(sum(len(t) for t in spec.seed_prompts.values()))
    if getattr(reflection, "reflector", "gepa") == "small" and "reflection_strategy" in spec.gepa_kwargs:
        reflect_tokens = SMALL_REFLECTION
    else:
        reflect_tokens = (REFLECTION_TEMPLATE_TOKENS + prompt_size + minibatch * (sum(row_tokens) + FEEDBACK_TOKENS),
                          prompt_size + 60)
    judge_tokens = (JUDGE_TOKENS[0] + sum(row_tokens), JUDGE_TOKENS[1])

    # time: a row is its task calls and its judges' calls; rows run `workers` at a time
    per_call = seconds / replies
    if getattr(task_model, "local_path", None) is not None:  # the embedded model: time goes with tokens written
        expected = statistics.mean(_tokens_of(len(" ".join(map(str, (r.get("expectations") or {}).values()))))
                                   for r in spec.train_records)
        written = max(1.0, completion_tokens / replies)
        per_call *= math.sqrt(min(written, expected) / written)  # candidates move toward the target's length
    row_seconds = per_call * replies + per_call * len(judges) + ROW_OVERHEAD
    local_reflection = getattr(reflection, "local_path", None) is not None
    reflect_seconds = seconds / replies / max(1.0, row_tokens[1]) * reflect_tokens[1] if local_reflection else per_call

    # the embedded model answers one call at a time (its workers share the cores: no faster together)
    parallel = 1 if getattr(task_model, "local_path", None) is not None else values["workers"]

    def batch(count: float) -> float:
        return math.ceil(max(count, 0) / parallel) * row_seconds if count else 0.0

    per_iteration_calls = proposals * (2 * minibatch + ACCEPTANCE * rows)
    iteration_seconds = (2 * batch(proposals * minibatch) + reflect_seconds + ACCEPTANCE * batch(proposals * rows)
                         + ITERATION_OVERHEAD)
    seed_seconds = batch(rows)

    # cost per metric call, by role (None: no known price)
    prices = {"task": _price(task_model), "reflection": _price(reflection)}
    judge_prices = [_price(m) for m in judges]
    row_cost = _cost(prices["task"], row_tokens, replies)
    judge_cost = None if any(p is None for p in judge_prices) else sum(
        _cost(p, judge_tokens, 1) or 0.0 for p in judge_prices)
    reflect_cost = _cost(prices["reflection"], reflect_tokens, 1)

    budget = values["max_metric_calls"]
    limits: dict[str, float] = {"max_metric_calls": plan_calls(rows, budget, minibatch, proposals)[1]}
    if values["max_cost"] is not None:
        priced = [c for c in (row_cost, judge_cost) if c is not None]
        per_call_cost = sum(priced) + (reflect_cost or 0.0) * proposals / per_iteration_calls
        limits["max_cost"] = values["max_cost"] / per_call_cost if per_call_cost > 0 else math.inf
    if values["max_time"] is not None:
        left = values["max_time"] - STARTUP_SECONDS - seed_seconds
        limits["max_time"] = rows + max(0.0, left) / iteration_seconds * per_iteration_calls
    binds = min(limits, key=lambda k: limits[k])
    affordable = limits[binds] if binds != "max_metric_calls" else None
    iterations, metric_calls = plan_calls(rows, budget, minibatch, proposals, affordable=affordable)
    # a parent is always a validated candidate: its minibatch rows in the validation set are cache hits
    hits = iterations * proposals * minibatch * rows / len(spec.train_records) if _caches(task_model) else 0.0
    calls = {"task": (metric_calls - hits) * replies + (0 if cached else replies),
             "reflection": iterations * proposals}
    if judges:
        calls["judge"] = metric_calls * len(judges)
    tokens = {"task": tuple(round(t * calls["task"]) for t in row_tokens),
              "reflection": tuple(round(t * calls["reflection"]) for t in reflect_tokens)}
    costs = {"task": None if row_cost is None else row_cost * calls["task"] / replies,
             "reflection": None if reflect_cost is None else reflect_cost * calls["reflection"]}
    if judges:
        tokens["judge"] = tuple(round(t * calls["judge"]) for t in judge_tokens)
        costs["judge"] = None if judge_cost is None else judge_cost * metric_calls
    total_seconds = STARTUP_SECONDS + seed_seconds + iterations * iteration_seconds
    models = {"task": _describe(task_model), "reflection": _describe(reflection)}
    if judges:
        models["judge"] = ", ".join(m.describe() for m in judges)
    return Estimate(validation_rows=rows, iterations=iterations, metric_calls=metric_calls, calls=calls,
                    tokens=tokens, cost=costs, seconds=total_seconds, binds=binds, limits=limits,
                    measured={"seconds": seconds, "prompt_tokens": prompt_tokens,
                              "completion_tokens": completion_tokens, "cached": cached},
                    models=models)


def _caches(model) -> bool:
    """Whether the run's calls to `model` go through the response cache (deterministic requests)."""
    from gepa_jupyter.models.cache import is_deterministic

    return getattr(model, "cache", None) is not None and getattr(model, "model_id", None) is not None \
        and is_deterministic(getattr(model, "kwargs", {}))


def _delta(after: dict, before: dict) -> dict:
    return {k: v - before.get(k, 0) for k, v in after.items()}


def _tokens_of(characters: int) -> float:
    return max(1.0, characters / 4)  # about four characters a token in English


def _price(model) -> tuple[float, float] | None:
    if model is None or not hasattr(model, "role"):
        return None  # a predict_fn's or a plain callable's calls: no price known
    from gepa_jupyter.models.costs import model_price

    return model_price(model)


def _cost(price, tokens, count: int) -> float | None:
    return None if price is None else count * (price[0] * tokens[0] + price[1] * tokens[1])


def _describe(model) -> str:
    if model is None:
        return "predict_fn"
    describe = getattr(model, "describe", None)
    return describe() if describe else getattr(model, "__name__", type(model).__name__)


def _signature():
    from gepa_jupyter.api import _signature as optimize_signature

    return optimize_signature().replace(return_annotation=Estimate)


estimate.__signature__ = _signature()  # type: ignore[attr-defined]  # help() lists every option, as optimize's
