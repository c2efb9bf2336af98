"""A run's gepa state kept in its MLflow artifacts as JSON while it runs, and a run continued from it.

The state is data, never code: `gepa_jupyter/state.json` holds the candidates, their scores per
validation row and per scorer, parents, the metric calls at each discovery and in all, the
iteration and gepa's trace (`state_to_json`); `state_from_json` checks every field and rebuilds
gepa 0.1.4's GEPAState from it (the Pareto fronts are replayed from the scores, by gepa's rule).
Nothing read from a tracking store is ever unpickled: gepa gets no `run_dir` (it writes no pickle),
and a run saved by an older version (`gepa_state.bin` only) is rebuilt from its candidates and
their stored scores (core.durability.salvage) without reading the pickle.

`Checkpoint` sees gepa's live state at each iteration's first stop check (before gepa's own save),
writes the JSON after each new candidate is validated and at each iteration, and uploads the
newest one on the run's MLflow writer thread, so the optimization never waits. Each candidate's
MLflow write waits until a state holding it has been uploaded: a candidate in MLflow is always in
the saved state, and one of the saved state whose write a crash cut off is written on resume
(`backfill`). `gepa_jupyter/candidates.json` holds the scores table (what watchers read).

On resume (`Restored`), gepa scores the seed first (answered from the stored scores, free), then
its fresh state is replaced in place by the rebuilt one at its first stop check: same Pareto
front, candidate numbers and metric calls continue. gepa keeps its random generator outside its
state: a resume seeds it from the run's seed and the resume count (not the same minibatches again).
"""

import dataclasses
import json
import logging
import math
import os
import shutil
import tempfile
import threading
import time
from typing import Any

from gepa_jupyter.core.events import CandidateEvent
from gepa_jupyter.core.optimization.steering import ORIGINS_ATTR, origins_of
from gepa_jupyter.core.tracking import schema

_logger = logging.getLogger(__name__)

FORMAT = "gepa-jupyter-state"
FORMAT_VERSION = 1
STATE_WAIT = 10.0  # seconds a candidate's write waits for a state holding it (then goes ahead; at once once ended)
FRONTIERS = ("instance", "objective", "hybrid")  # gepa frontier types a state can be rebuilt for


class DamagedState(ValueError):
    """A stored state that cannot be used: the message says what is wrong with it."""


@dataclasses.dataclass
class Restored:
    """What a resumed run starts from: the rebuilt state and the candidates already scored."""

    run_id: str
    experiment_id: str
    state: Any  # a GEPAState rebuilt from stored data; None: nothing scored yet (starts from the seed)
    candidates: list  # CandidateEvent, in step order
    metric_calls: int = 0  # the saved state's metric calls
    elapsed: float = 0.0  # seconds the run had run before
    usage: dict = dataclasses.field(default_factory=dict)  # model usage before, by role
    seed_scores: dict = dataclasses.field(default_factory=dict)  # validation row -> the seed's score
    seed_prompts: dict = dataclasses.field(default_factory=dict)
    row_scores: dict = dataclasses.field(default_factory=dict)  # candidate index -> {row: score}
    complete_steps: set = dataclasses.field(default_factory=set)  # MLflow steps with their metric and files
    metric_steps: set = dataclasses.field(default_factory=set)  # MLflow steps whose metric was logged
    listed: int = 0  # candidates in the run's candidates.json
    resumes: int = 1  # this is the n-th resume of the run
    source: str = schema.STATE_FILE  # where the state came from (a notice when it was rebuilt otherwise)
    claim: object = None  # core.durability.claims.Claim held for this resume (released when the run ends)
    notices: list = dataclasses.field(default_factory=list)  # what the user should know (e.g. a rebuilt state)


# ----- the state as JSON ----------------------------------------------------------------------------
def _plain(value):
    """JSON-safe copy (gepa's trace holds numpy numbers now and then)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    item = getattr(value, "item", None)
    return _plain(item()) if callable(item) else str(value)


def state_to_json(state) -> dict:
    """The JSON of a GEPAState: what a resume needs, nothing executable."""
    return {
        "format": FORMAT, "version": FORMAT_VERSION,
        "candidates": [dict(c) for c in state.program_candidates],
        "parents": [[None if p is None else int(p) for p in ps] for ps in state.parent_program_for_candidate],
        "val_scores": [{str(k): float(v) for k, v in s.items()} for s in state.prog_candidate_val_subscores],
        "objective_scores": [{str(k): float(v) for k, v in (o or {}).items()}
                             for o in state.prog_candidate_objective_scores],
        "metric_calls_by_discovery": [int(n) for n in state.num_metric_calls_by_discovery],
        "next_predictor": [int(n) for n in state.named_predictor_id_to_update_next_for_program_candidate],
        "predictors": list(state.list_of_named_predictors),
        "frontier_type": state.frontier_type,
        "pareto_front": {str(k): float(v) for k, v in state.pareto_front_valset.items()},
        "pareto_programs": {str(k): sorted(v) for k, v in state.program_at_pareto_front_valset.items()},
        "iteration": int(state.i), "full_evals": int(state.num_full_ds_evals),
        "metric_calls": int(state.total_num_evals), "trace": _plain(state.full_program_trace),
        "origins": {str(k): v for k, v in origins_of(state).items()},  # candidates gepa did not make (the user's)
    }


def _need(condition: object, what: str) -> None:
    if not condition:
        raise DamagedState(what)


def _number(value, what: str) -> float:
    _need(isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value),
          f"{what} is not a number")
    return float(value)


def _count(value, what: str, low: int = 0) -> int:
    _need(isinstance(value, int) and not isinstance(value, bool) and value >= low, f"{what} is not a count")
    return value


def _scores(value, rows: int, what: str) -> dict:
    _need(isinstance(value, dict), f"{what} is not a table of scores")
    scores = {}
    for key, score in value.items():
        _need(str(key).isdigit() and int(key) < rows, f"{what} names a validation row {key!r} the run does not have")
        scores[int(key)] = _number(score, f"{what}[{key}]")
    return scores


def state_from_json(data, seed_prompts: dict, rows: int):
    """A GEPAState rebuilt from `data` (a dict read from JSON), every field checked; DamagedState otherwise."""
    _need(isinstance(data, dict) and data.get("format") == FORMAT, "it is not a gepa-jupyter state")
    _need(data.get("version") == FORMAT_VERSION, f"its format version {data.get('version')!r} is not {FORMAT_VERSION}")
    candidates = data.get("candidates")
    _need(isinstance(candidates, list) and candidates, "it holds no candidates")
    count = len(candidates)
    for key in ("parents", "val_scores", "objective_scores", "metric_calls_by_discovery", "next_predictor"):
        _need(isinstance(data.get(key), list) and len(data[key]) == count,
              f"its {key} do not match its {count} candidates")
    records = []
    for i, prompts in enumerate(candidates):
        _need(isinstance(prompts, dict) and set(prompts) == set(seed_prompts)
              and all(isinstance(t, str) for t in prompts.values()),
              f"candidate {i} does not hold the run's prompts ({', '.join(seed_prompts)})")
        parents = data["parents"][i]
        _need(isinstance(parents, list) and all(p is None or (isinstance(p, int) and 0 <= p < i) for p in parents),
              f"candidate {i}'s parents are not earlier candidates")
        objective = data["objective_scores"][i]
        _need(isinstance(objective, dict), f"candidate {i}'s scorer scores are not a table")
        records.append(StoredCandidate(
            prompts=dict(prompts), parents=list(parents) or [None],
            scores=_scores(data["val_scores"][i], rows, f"candidate {i}'s scores"),
            objective={str(k): _number(v, f"candidate {i}'s {k} score") for k, v in objective.items()},
            calls_at_discovery=_count(data["metric_calls_by_discovery"][i], f"candidate {i}'s metric calls"),
            next_predictor=_count(data["next_predictor"][i], f"candidate {i}'s next prompt")))
    _need(records[0].prompts == dict(seed_prompts), "its first candidate is not the run's seed")
    trace = data.get("trace") or []
    _need(isinstance(trace, list) and all(isinstance(t, dict) for t in trace), "its trace is not a list of records")
    origins = data.get("origins") or {}
    _need(isinstance(origins, dict) and all(str(k).isdigit() and int(k) < count and isinstance(v, str)
                                            for k, v in origins.items()), "its origins are not candidates' origins")
    return build_state(records, iteration=_count(data.get("iteration"), "its iteration", low=-1),
                       metric_calls=_count(data.get("metric_calls"), "its metric calls"),
                       frontier_type=data.get("frontier_type", "instance"), trace=trace,
                       full_evals=_count(data.get("full_evals", 1), "its full evaluations"),
                       origins={int(k): v for k, v in origins.items()})


@dataclasses.dataclass
class StoredCandidate:
    """One candidate as stored: its prompts, parents, scores by validation row and by scorer."""

    prompts: dict
    parents: list
    scores: dict  # validation row -> score
    objective: dict = dataclasses.field(default_factory=dict)
    calls_at_discovery: int = 0
    next_predictor: int = 0


def build_state(records: list[StoredCandidate], *, iteration: int, metric_calls: int, frontier_type: str = "instance",
                trace: list | None = None, full_evals: int = 1, origins: dict[int, str] | None = None):
    """gepa 0.1.4's GEPAState for these candidates: the Pareto fronts replayed from their scores in order;
    `origins`: {index: origin} of the candidates gepa did not make (kept on the state: core.optimization.steering)."""
    from gepa_jupyter.core.upstream import GEPAState, ValsetEvaluation, call_method

    _need(frontier_type in FRONTIERS, f"its frontier type {frontier_type!r} cannot be rebuilt")
    seed = records[0]
    state = GEPAState(seed.prompts, ValsetEvaluation({}, dict(seed.scores), None), frontier_type="instance")
    state.frontier_type = frontier_type
    state.prog_candidate_objective_scores[0] = dict(seed.objective)
    state.objective_pareto_front = dict(seed.objective)
    state.program_at_pareto_front_objectives = {k: {0} for k in seed.objective}
    state.named_predictor_id_to_update_next_for_program_candidate = [seed.next_predictor]
    for record in records[1:]:
        index = len(state.program_candidates)
        state.program_candidates.append(dict(record.prompts))
        state.parent_program_for_candidate.append(list(record.parents))
        state.prog_candidate_val_subscores.append(dict(record.scores))
        state.prog_candidate_objective_scores.append(dict(record.objective))
        state.num_metric_calls_by_discovery.append(record.calls_at_discovery)
        state.named_predictor_id_to_update_next_for_program_candidate.append(record.next_predictor)
        for row, score in record.scores.items():
            call_method("update_pareto_front", state, row, score, index, None, None, iteration)
        call_method("update_objective_front", state, record.objective, index)
    state.i = iteration
    state.num_full_ds_evals = full_evals
    state.total_num_evals = max(metric_calls, sum(len(r.scores) for r in records))
    state.full_program_trace = list(trace or [])
    if origins:
        setattr(state, ORIGINS_ATTR, dict(origins))
    state.is_consistent()
    return state


def write_state(state, folder: str) -> str:
    """Write the state's JSON to `folder` (atomically); its path."""
    path = os.path.join(folder, schema.STATE_FILE)
    with open(path + ".tmp", "w") as handle:
        json.dump(state_to_json(state), handle)
    os.replace(path + ".tmp", path)
    return path


def write_candidates(candidates: list, folder: str) -> str:
    """Write the scores table (candidates.json, what watchers and resumes read) to `folder`; its path."""
    path = os.path.join(folder, schema.CANDIDATES_FILE)
    with open(path, "w") as handle:
        json.dump([candidate_to_json(c) for c in candidates], handle, default=str)
    return path


def candidates_from_state(state, known: list) -> list:
    """The `known` CandidateEvents, then one for each other candidate of `state` (from the state alone)."""
    iterations = {}
    for entry in state.full_program_trace:
        indices = entry.get("new_program_indices") or [entry.get("new_program_idx")]
        for index in indices if isinstance(indices, list) else ():
            if isinstance(index, int) and isinstance(entry.get("i", 0), int):
                iterations[index] = entry.get("i", 0) + 1
    events = list(known)
    best = max((c.score for c in events), default=float("-inf"))
    last = events[-1] if events else None
    seen = {c.index for c in events}
    origins = origins_of(state)
    for index in (i for i in range(len(state.program_candidates)) if i not in seen):
        scores = state.prog_candidate_val_subscores[index]
        score = sum(scores.values()) / len(scores) if scores else 0.0
        events.append(CandidateEvent(
            index=index, iteration=iterations.get(index, 0),
            parents=tuple(p for p in state.parent_program_for_candidate[index] if p is not None),
            score=score, scorer_scores=dict(state.prog_candidate_objective_scores[index] or {}),
            prompts=dict(state.program_candidates[index]),
            metric_calls=int(state.num_metric_calls_by_discovery[index]) + len(scores),
            elapsed=last.elapsed if last else 0.0, new_best=score > best, step=len(events),
            usage=dict(last.usage) if last else {}, origin=origins.get(index, "seed" if index == 0 else "gepa")))
        best = max(best, score)
    return events


def candidate_to_json(candidate: CandidateEvent) -> dict:
    return dataclasses.asdict(candidate)


def candidate_from_json(data: dict) -> CandidateEvent:
    fields = {f.name for f in dataclasses.fields(CandidateEvent)}
    data = {k: v for k, v in data.items() if k in fields}
    data["parents"] = tuple(data.get("parents") or ())
    data.setdefault("origin", "seed" if data.get("index") == 0 else "gepa")  # written before origins were kept
    return CandidateEvent(**data)


class Checkpoint:
    """The gepa state of one run, as JSON, uploaded to MLflow as it changes.

    Hooks: `prefill(optimizer)` (a resumed run shows its candidates at once), `attach(...)` (from
    `StreamingGepaOptimizer.optimize`), `known(event)` and `before_write` / `after_write` (from
    `CandidateLogger`); it is itself a gepa callback (`on_state_saved`, `on_valset_evaluated`,
    `on_optimization_end`) and gepa's first stop check (`see`).
    """

    def __init__(self, resume: Restored | None = None):
        self.resume = resume
        self.run_dir = tempfile.mkdtemp(prefix="gepa-jupyter-state-")  # our JSON, never gepa's run_dir
        self._upload_dir = tempfile.mkdtemp(prefix="gepa-jupyter-upload-")
        self.client: Any = None  # mlflow's MlflowClient, set by attach/reopen
        self.run_id: str | None = None
        self.writer = None
        self.state: Any = None  # gepa's GEPAState
        self.errors: list[str] = []
        self._adopt = resume.state if resume is not None else None
        self._known = 0
        self._saved = 0  # candidates in the newest state file
        self._uploaded = 0  # candidates in the newest uploaded state
        self._version = self._uploaded_version = 0
        self._pending = False
        self._ended = False  # gepa's loop ended (a stop, the budget, an error): no state is coming any more
        self._condition = threading.Condition()
        if resume is not None and resume.state is not None:
            self._known = self._saved = self._uploaded = len(resume.state.program_candidates)

    # ----- hooks --------------------------------------------------------------------------------
    def prefill(self, optimizer) -> None:
        """Put the candidates already scored in the optimizer (the table shows them at once)."""
        if self.resume is not None:
            optimizer.continue_from(self.resume.candidates, self.resume.metric_calls)

    def attach(self, optimizer, kwargs: dict, adapter, guard, listener) -> None:
        """Give gepa this callback and stop check; on resume, continue the counters."""
        kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), self]
        stops = kwargs.get("stop_callbacks") or []
        kwargs["stop_callbacks"] = [self.see, *([stops] if callable(stops) else stops)]
        self.client, self.run_id, self.writer = optimizer.client, optimizer.run_id, optimizer.writer
        resume = self.resume
        if resume is None:
            return
        adapter.continue_from(resume.metric_calls)
        guard.continue_from(resume.metric_calls)
        listener.continue_from(max((c.score for c in resume.candidates), default=float("-inf")), resume.elapsed)
        if resume.state is not None:
            _answer_first_evaluation(adapter, resume)

    def see(self, state) -> bool:
        """gepa's stop check, first of each iteration (before its save): keep the live state; on
        resume, the first time, replace gepa's fresh state by the rebuilt one, in place. Never stops."""
        if self._adopt is not None:
            rebuilt, self._adopt = self._adopt, None
            for key, value in vars(rebuilt).items():
                if key not in ("_budget_hooks", "evaluation_cache"):
                    setattr(state, key, value)
        self.state = state
        if len(state.program_candidates) > self._saved:  # e.g. the seed: saved before a pause can hold the loop
            self._saved_now(len(state.program_candidates), write=True)
        return False

    def end(self) -> None:
        """gepa's loop ended (its thread): save the newest state it holds, and let every candidate write
        waiting for a state go ahead at once (a stop never waits on a state that will not come)."""
        if self.state is not None and len(self.state.program_candidates) > self._saved:
            self._saved_now(len(self.state.program_candidates), write=True)
        with self._condition:
            self._ended = True
            self._condition.notify_all()

    def known(self, event: dict) -> bool:
        """A validation event of a candidate restored from the saved state (not a new one)."""
        return int(event["candidate_idx"]) < self._known

    def before_write(self, candidate: CandidateEvent) -> None:
        """On the writer thread, before a candidate's MLflow write: upload a state that holds it."""
        with self._condition:
            self._condition.wait_for(lambda: self._saved > candidate.index or self._ended, timeout=STATE_WAIT)
        if self._uploaded <= candidate.index:
            self._upload()

    def after_write(self, candidates: list) -> None:
        """After a candidate's MLflow write: the scores table for watchers and resumes."""
        self.client.log_artifact(self.run_id, write_candidates(candidates, self._upload_dir), schema.ARTIFACT_DIR)

    def reopen(self, client, spec) -> None:
        """Mark the resumed MLflow run running again and write what a crash cut off (run's thread)."""
        from mlflow.entities import RunTag

        resume = self.resume
        assert resume is not None, "reopen() is for a checkpoint made to resume"
        self.client, self.run_id = client, resume.run_id
        client.update_run(resume.run_id, status="RUNNING")
        for tag in (schema.DIED_TAG, schema.ERROR_TAG):
            try:
                client.delete_tag(resume.run_id, tag)
            except Exception as e:  # not there
                _logger.debug("tag %s of run %s not deleted: %r", tag, resume.run_id, e)
        tags = {schema.STATUS_TAG: "running", schema.RESUMES_TAG: str(resume.resumes),
                schema.BUDGET_TAG: str(spec.options["max_metric_calls"])}
        client.log_batch(resume.run_id, tags=[RunTag(k, v) for k, v in tags.items()])
        if resume.state is not None and resume.source != schema.STATE_FILE:  # rebuilt: store it as JSON at once
            self.state = resume.state
            self._saved_now(len(resume.state.program_candidates), write=True)
            self._upload()
        written = backfill(client, resume, spec.validation_records, resume.complete_steps, resume.metric_steps)
        if written or resume.listed < len(resume.candidates):
            self.after_write(resume.candidates)

    # ----- gepa callbacks ---------------------------------------------------------------------------
    def on_state_saved(self, event) -> None:
        if self.state is not None:
            self._saved_now(len(self.state.program_candidates), write=True)

    def on_valset_evaluated(self, event) -> None:
        if self.state is not None and int(event["iteration"]) > 0:  # now: a crash keeps this candidate
            self._saved_now(len(self.state.program_candidates), write=True)

    def on_optimization_end(self, event) -> None:
        state = event.get("final_state")
        if state is not None:
            self.state = state
            self._saved_now(len(state.program_candidates), write=True)

    # ----- saving -----------------------------------------------------------------------------------
    def _saved_now(self, count: int, write: bool = False) -> None:
        if write:
            try:
                write_state(self.state, self.run_dir)
            except Exception as e:  # noqa: BLE001 - never break gepa's loop; the next save tries again
                self.errors.append(f"saving the state: {type(e).__name__}: {e}")
                return
        with self._condition:
            self._saved = max(self._saved, count)
            self._version += 1
            self._condition.notify_all()
            if self._pending or self.writer is None:
                return
            self._pending = True
        self.writer.submit("gepa state", self._upload)

    def _upload(self) -> None:
        """Upload the newest state file (one job at a time: the writer thread)."""
        with self._condition:
            self._pending = False
            count, version = self._saved, self._version
        if version == self._uploaded_version or self.client is None:
            return
        source = os.path.join(self.run_dir, schema.STATE_FILE)
        if not os.path.exists(source):
            return
        copy = os.path.join(self._upload_dir, schema.STATE_FILE)
        shutil.copyfile(source, copy)
        with open(copy) as handle:
            mark = json.load(handle)
        self.client.log_artifact(self.run_id, copy, schema.ARTIFACT_DIR)
        self._uploaded, self._uploaded_version = max(self._uploaded, count), version
        self.client.set_tag(self.run_id, schema.CHECKPOINT_TAG, json.dumps(
            {"candidates": len(mark["candidates"]), "saved_at": round(time.time(), 3),
             "metric_calls": mark["metric_calls"], "iteration": mark["iteration"] + 1}))

    def store_late(self, client, run_id: str, state, candidates: list) -> None:
        """After the run's end (a user candidate added then): upload the state and the scores table now."""
        with tempfile.TemporaryDirectory(prefix="gepa-jupyter-late-") as folder:
            if state is not None:
                client.log_artifact(run_id, write_state(state, folder), schema.ARTIFACT_DIR)
            client.log_artifact(run_id, write_candidates(candidates, folder), schema.ARTIFACT_DIR)

    def close(self) -> None:
        for folder in (self.run_dir, self._upload_dir):
            shutil.rmtree(folder, ignore_errors=True)


def _answer_first_evaluation(adapter, resume: Restored) -> None:
    """gepa scores the seed on the validation set before its state is replaced by the rebuilt one:
    answer that evaluation from the stored scores (no model call, no metric call)."""
    def first(batch, candidate, capture_traces, evaluate):
        if dict(candidate) != resume.seed_prompts or len(batch) != len(resume.seed_scores):
            return evaluate(batch, candidate, capture_traces)
        import gepa

        scores = [float(resume.seed_scores.get(i, 0.0)) for i in range(len(batch))]
        return gepa.EvaluationBatch(outputs=[""] * len(batch), scores=scores, trajectories=None)

    adapter.answer_first(first)


def backfill(client, restored: Restored, validation: list[dict], complete: set[int],
             with_metric: set[int]) -> list[int]:
    """Write the candidates whose MLflow write a crash cut off (scores from the saved state); their steps.

    `complete`: steps with their metric and files; `with_metric`: steps whose metric was logged."""
    from gepa_jupyter.core.tracking import candidates
    from gepa_jupyter.core.tracking.artifacts import names

    written = []
    for candidate in restored.candidates:
        if candidate.step in complete:
            continue
        scores = restored.row_scores.get(candidate.index, {})
        rows = [_Row(record, scores.get(i)) for i, record in enumerate(validation)]
        stored = names(client, restored.run_id, schema.iteration_dir(candidate.step))
        candidates.log_candidate(candidate.step, candidate.prompts, rows, candidate.score,
                                 dict(candidate.scorer_scores), run_id=restored.run_id, client=client,
                                 metrics=candidate.step not in with_metric,
                                 table=schema.EVAL_RESULTS_FILE not in stored)  # its outputs are kept
        written.append(candidate.step)
    return written


@dataclasses.dataclass
class _Row:
    """An evaluated row rebuilt from the saved state: its inputs, expectations and score (no output)."""

    record: dict
    score: float | None
    outputs: None = None
    individual_scores: dict = dataclasses.field(default_factory=dict)

    @property
    def inputs(self):
        return self.record.get("inputs")

    @property
    def expectations(self):
        return self.record.get("expectations")
