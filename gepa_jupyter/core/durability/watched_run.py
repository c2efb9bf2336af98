"""WatchedRun: a run executing elsewhere (another kernel or machine, a batch job, a script using
`StreamingGepaOptimizer`), read from the tracking store as it goes, until it ends.

It has what the views read from an `OptimizationRun` (`views.snapshot(watched)` works, and so do
`LiveUpdater` and the magic's live view): status, candidates, scores, metric calls, activity,
usage, the registered prompt. A daemon thread polls every `interval` seconds and reads only
what changed: the run (status, tags: the heartbeat carries the progress) and the `eval_score`
history; new candidates come from `gepa_jupyter/candidates.json` (runs of gepa-jupyter), else
from each step's `prompt_candidates/iteration_N/` files (runs of the drop-in optimizer).
A RUNNING run whose process died is marked FAILED (core.durability.liveness) and the watch ends.
"""

import threading
import time
import uuid
from typing import Any, Callable

from gepa_jupyter.core.durability import liveness
from gepa_jupyter.core.durability.checkpoint import candidate_from_json
from gepa_jupyter.core.errors import InputError
from gepa_jupyter.core.events import BudgetEvent, CandidateEvent, EventHub, StatusEvent, best_candidate, prompts_of
from gepa_jupyter.core.inputs.prompts import join_sections
from gepa_jupyter.core.insight.frame import candidates_frame
from gepa_jupyter.core.runtime import quiet
from gepa_jupyter.core.tracking import artifacts, schema

STATUSES = {"RUNNING": "running", "SCHEDULED": "running", "FINISHED": "finished", "KILLED": "stopped",
            "FAILED": "failed"}
DEFAULT_INTERVAL = 2.0


def current_models(tags: dict, params: dict) -> dict[str, str]:
    """The models of a run's newest start: the tags a resume rewrites (core.runtime.run.model_tags), else the
    params of its first start (MLflow params cannot change)."""
    found = {}
    for name in ("model", "reflection_model"):
        value = tags.get(schema.CURRENT_MODEL_PREFIX + name) or params.get(schema.param(name))
        if value:
            found[name] = value
    return found


class WatchedRun:
    """A run of the tracking store, followed live; `stop()` stops watching (not the run)."""

    def __init__(self, run_id: str, client, interval: float = DEFAULT_INTERVAL, tracking_uri: str | None = None,
                 follow: bool = True):
        self.run_id = run_id
        self.client = client
        self.interval = interval
        self.tracking_uri = tracking_uri
        self.key = uuid.uuid4().hex[:8]
        self.status = "running"
        self.error: str | None = None
        self.seed_prompts: dict[str, str] = {}  # name -> seed text (from the recipe, or the first candidate)
        self._tagged_name = "prompt"
        self.experiment_id: str | None = None
        self.max_metric_calls = 0
        self.validation_size = 0
        self.holdout_scores: dict = {}
        self.registered_prompt_uri: str | None = None
        self.registered_prompt_uris: dict[str, str] = {}  # with several prompts: name -> prompts:/name/N
        self.optimized_alias = False
        self.invalid_proposals = 0
        self.models: dict[str, str] = {}  # model / reflection_model -> what the run's newest start uses
        self.ended_by: str | None = None  # core.inputs.budget.ENDED_BY, from the tag once the run ended
        self.max_cost: float | None = None
        self.max_time: float | None = None
        self.polls = 0
        self.errors: list[str] = []
        self.tags: dict[str, str] = {}  # the MLflow run's tags and params as last read
        self.params: dict[str, str] = {}
        self.run_name = ""
        self.events = EventHub()
        self.log = quiet.RunLog()
        self._candidates: list[CandidateEvent] = []
        self._beat: dict = {}
        self._beat_seen = time.monotonic()
        self._ended_elapsed: float | None = None
        self._recipe_read = False
        self._done = threading.Event()
        self._stop = threading.Event()
        self.poll()  # the first read here: an unknown run id is an InputError now
        self._thread = threading.Thread(target=self._loop, name=f"{quiet.THREAD_PREFIX}{self.key}-watch", daemon=True)
        if follow:  # else one read: what the store holds now (e.g. to compare runs)
            self._thread.start()

    # ----- what the views read (as OptimizationRun) ----------------------------------------------------
    @property
    def candidates(self) -> list:
        return list(self._candidates)

    @property
    def prompt_names(self) -> list[str]:
        return list(self.seed_prompts) or [self._tagged_name]

    @property
    def prompt_name(self) -> str:
        return self.prompt_names[0]

    @property
    def seed_prompt(self) -> str:
        return join_sections(self.seed_prompts) if self.seed_prompts else ""

    @property
    def best_prompts(self) -> dict[str, str]:
        return prompts_of(self.best, self.seed_prompts)

    @property
    def scores(self):
        return candidates_frame(self.candidates, self.prompt_names)

    @property
    def best(self):
        return best_candidate(self._candidates)

    @property
    def best_prompt(self) -> str:
        return join_sections(self.best_prompts) if self.seed_prompts else ""

    @property
    def metric_calls(self) -> int:
        last = self._candidates[-1].metric_calls if self._candidates else 0
        return max(int(self._beat.get("calls") or 0), last)

    @property
    def usage(self) -> dict:
        usage = self._beat.get("usage")
        return usage if isinstance(usage, dict) else {}

    @property
    def activity(self) -> str:
        return str(self._beat.get("activity") or "") if self.status == "running" else self.status

    @property
    def elapsed(self) -> float:
        if self._ended_elapsed is not None:
            return self._ended_elapsed
        return float(self._beat.get("elapsed") or 0.0) + time.monotonic() - self._beat_seen

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def log_lines(self) -> list[str]:
        return self.log.lines

    def subscribe(self, listener: Callable[[Any], None]) -> Callable[[], None]:
        return self.events.subscribe(listener)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the watched run ended (or the watch was stopped); True when it has."""
        return self._done.wait(timeout)

    def stop(self) -> None:
        """Stop watching (the run itself goes on where it runs)."""
        self._stop.set()

    def __repr__(self):
        best = self.best
        score = f", best {best.score:.3f}" if best else ""
        return (f"<WatchedRun {self.status}: {len(self._candidates)} candidates, "
                f"{self.metric_calls}/{self.max_metric_calls} metric calls{score}, run_id={self.run_id}>")

    # ----- polling ---------------------------------------------------------------------------------------
    def _loop(self) -> None:
        with quiet.capture(self.key, self.log):
            while not self._done.is_set() and not self._stop.wait(self.interval):
                try:
                    self.poll()
                except Exception as e:  # the store may be away for a while: try again
                    self.errors.append(f"{type(e).__name__}: {e}")
        if not self._done.is_set():  # stopped watching
            self._done.set()
            self.events.emit(StatusEvent(self.status, self.error))

    def poll(self) -> None:
        """Read what changed since the last poll; the end of the run ends the watch."""
        try:
            run = self.client.get_run(self.run_id)
        except Exception as e:
            if self.polls == 0:
                raise InputError(f"There is no MLflow run {self.run_id!r} in the tracking store "
                                 f"{self.tracking_uri or ''}: {type(e).__name__}: {e}".replace("  ", " ")) from e
            raise
        self.polls += 1
        verdict = liveness.judge(run)
        if verdict is not None and verdict.dead:
            liveness.mark_dead(self.client, run, verdict)
            run = self.client.get_run(self.run_id)
        self._read_run(run)
        if not self._recipe_read:
            self._read_recipe(run)
        self._read_candidates()
        status = STATUSES.get(run.info.status, "running")
        if status != "running":  # only now: a view drawn meanwhile must not show the end without its last rows
            self._ended_elapsed = self._final_elapsed(run)
            self.error = run.data.tags.get(schema.ERROR_TAG) if status == "failed" else None
            self.status = status
            self._done.set()
            self.events.emit(StatusEvent(self.status, self.error))

    def _read_run(self, run) -> None:
        """The run's progress and tags (its end is taken by `poll`, once the candidates are read)."""
        tags, params, metrics = run.data.tags, run.data.params, run.data.metrics
        self.tags, self.params, self.run_name = dict(tags), dict(params), run.info.run_name or ""
        self.experiment_id = run.info.experiment_id
        beat = liveness.parse(tags, schema.HEARTBEAT_TAG)
        if beat != self._beat:
            self._beat, self._beat_seen = beat, time.monotonic()
            self.events.emit(BudgetEvent(self.metric_calls, self.max_metric_calls, self.elapsed, self.activity))
        budget = beat.get("budget") or tags.get(schema.BUDGET_TAG) or params.get(schema.param("max_metric_calls"))
        self.max_metric_calls = int(budget or 0)
        self.validation_size = int(beat.get("validation") or params.get(schema.param("num_validation_rows")) or 0)
        self._tagged_name = tags.get(schema.PROMPT_TAG, self._tagged_name)
        self.invalid_proposals = int(tags.get(schema.INVALID_PROPOSALS_TAG) or 0)
        self.registered_prompt_uri = tags.get(schema.REGISTERED_PROMPT_TAG)
        several = [u for u in tags.get(schema.REGISTERED_PROMPTS_TAG, "").split(",") if u]
        self.registered_prompt_uris = {u.split("/")[1]: u for u in several}
        self.optimized_alias = tags.get(schema.OPTIMIZED_ALIAS_TAG) == "true"
        self.models = current_models(tags, params)
        self.holdout_scores = _holdout(metrics)
        self.ended_by = tags.get(schema.ENDED_BY_TAG)
        self.max_cost, self.max_time = (schema.stored_number(params.get(schema.param(k)))
                                        for k in ("max_cost", "max_time"))

    def _read_recipe(self, run) -> None:
        self._recipe_read = True
        found = artifacts.read_json(self.client, self.run_id, schema.stored(schema.RUN_FILE))
        if found:
            self.seed_prompts = dict(found.get("seed_prompts") or {found["prompt_name"]: found["seed_template"]})
            self.validation_size = self.validation_size or len(found.get("validation_indices", []))

    def _read_candidates(self) -> None:
        steps = sorted({m.step for m in self.client.get_metric_history(self.run_id, "eval_score")})
        if len(steps) <= len(self._candidates):
            return
        listed = artifacts.read_json(self.client, self.run_id, schema.stored(schema.CANDIDATES_FILE)) or []
        new = [candidate_from_json(c) for c in listed[len(self._candidates):]]
        if not listed:  # a run of the drop-in optimizer: each step's files
            new = [c for c in (self._from_files(step) for step in steps[len(self._candidates):]) if c is not None]
        for candidate in new:
            self._candidates.append(candidate)
            self.events.emit(candidate)
        if self._candidates and not self.seed_prompts:
            self.seed_prompts = dict(self._candidates[0].prompts)

    def _from_files(self, step: int) -> CandidateEvent | None:
        """A candidate from `prompt_candidates/iteration_<step>/`: its prompt files and scores.json."""
        folder = schema.iteration_dir(step)
        names = artifacts.names(self.client, self.run_id, folder)
        if schema.SCORES_FILE not in names:
            return None  # not written yet
        scores = artifacts.read_json(self.client, self.run_id, f"{folder}/{schema.SCORES_FILE}")
        prompts = {}
        for name in names:
            if name.endswith(".txt"):
                text = artifacts.read_bytes(self.client, self.run_id, f"{folder}/{name}")
                if text is None:
                    return None  # not written yet
                prompts[name[:-4]] = text.decode()
        best = max((c.score for c in self._candidates), default=float("-inf"))
        score = float(scores.get("aggregate", 0.0))
        return CandidateEvent(index=step, iteration=0, parents=(), score=score,
                              scorer_scores=dict(scores.get("per_scorer") or {}), prompts=prompts, metric_calls=0,
                              elapsed=0.0, new_best=score > best, step=step)

    def _final_elapsed(self, run) -> float:
        if self._beat.get("elapsed") is not None:
            return float(self._beat["elapsed"])
        end = run.info.end_time or run.info.start_time
        return max(0.0, (end - run.info.start_time) / 1000) if run.info.start_time else 0.0


def _holdout(metrics: dict) -> dict:
    found: dict[str, dict] = {}
    for label in ("seed", "best"):
        key = f"holdout_{label}_score"
        if key in metrics:
            found[label] = {"score": metrics[key]} | {
                k[len(key) + 1:]: v for k, v in metrics.items() if k.startswith(key + ".")}
    return found if len(found) == 2 else {}


def describe(run) -> str:
    """One line about a run: for messages that offer to watch or resume it."""
    tags = run.data.tags
    beat, mark = liveness.parse(tags, schema.HEARTBEAT_TAG), liveness.parse(tags, schema.CHECKPOINT_TAG)
    candidates = newest(beat.get("candidates"), mark.get("candidates"))
    calls = newest(beat.get("calls"), mark.get("metric_calls"))
    budget = beat.get("budget", tags.get(schema.BUDGET_TAG, "?"))
    return (f"prompt {tags.get(schema.PROMPT_TAG, '?')!r}, {'?' if candidates is None else candidates} "
            f"candidates, {'?' if calls is None else calls}/{budget} metric calls")


def newest(beat, saved) -> int | None:
    """The larger of a heartbeat's count (every few seconds) and the saved state's (at each candidate):
    a run killed between two heartbeats has its saved state ahead of its last beat."""
    known = [int(v) for v in (beat, saved) if isinstance(v, (int, float))]
    return max(known) if known else None
