"""A run's gepa state kept in its MLflow artifacts while it runs, and a run continued from it.

gepa saves its whole state (candidates, Pareto front, budget used) to `run_dir/gepa_state.bin`
at the top of every iteration and at the end; `Checkpoint` gives it a temporary `run_dir`, also
saves the state right after each new candidate is validated, and uploads the newest state to
the run's artifacts (`gepa_jupyter/gepa_state.bin`) on the run's MLflow writer thread, so the
optimization never waits. Each candidate's MLflow write waits until a state holding it has been
uploaded: a candidate in MLflow is always in the saved state, and a candidate of the saved state
whose write a crash cut off is written on resume (`backfill`). `gepa_jupyter/candidates.json`
holds the scores table (what watchers and a resume read back).

On resume (`Restored`), the saved state is put in the new `run_dir`, so gepa continues it:
same Pareto front, candidate numbers and metric calls continue. gepa evaluates the seed on the
validation set before it loads a state; that first evaluation is answered from the state, free.
"""

import dataclasses
import json
import os
import shutil
import tempfile
import threading
import time

from gepa_jupyter.core.events import CandidateEvent

ARTIFACT_DIR = "gepa_jupyter"
STATE_FILE = "gepa_state.bin"
CANDIDATES_FILE = "candidates.json"
CHECKPOINT_TAG = "gepa_jupyter.checkpoint"
RESUMES_TAG = "gepa_jupyter.resumes"
BUDGET_TAG = "gepa_jupyter.budget"
STATE_WAIT = 10.0  # seconds a candidate's write waits for a state holding it (then goes ahead)


@dataclasses.dataclass
class Restored:
    """What a resumed run starts from: the saved state and the candidates already scored."""

    run_id: str
    experiment_id: str
    state_bytes: bytes | None  # None: the run saved no state yet (it starts again from the seed)
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


def read_state(state_bytes: bytes):
    """The GEPAState pickled in `state_bytes` (loaded by gepa itself)."""
    from gepa_jupyter.core.upstream import load_state

    with tempfile.TemporaryDirectory(prefix="gepa-jupyter-read-") as folder:
        with open(os.path.join(folder, STATE_FILE), "wb") as handle:
            handle.write(state_bytes)
        return load_state(folder)


def candidates_from_state(state, known: list) -> list:
    """The `known` CandidateEvents, then one for each other candidate of `state` (from the state alone)."""
    iterations = {}
    for entry in state.full_program_trace:
        for index in entry.get("new_program_indices", [entry.get("new_program_idx")]):
            if index is not None:
                iterations[index] = int(entry.get("i", 0)) + 1
    events = list(known)
    best = max((c.score for c in events), default=float("-inf"))
    last = events[-1] if events else None
    seen = {c.index for c in events}
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
            usage=dict(last.usage) if last else {}))
        best = max(best, score)
    return events


def candidate_to_json(candidate: CandidateEvent) -> dict:
    return dataclasses.asdict(candidate)


def candidate_from_json(data: dict) -> CandidateEvent:
    fields = {f.name for f in dataclasses.fields(CandidateEvent)}
    data = {k: v for k, v in data.items() if k in fields}
    data["parents"] = tuple(data.get("parents") or ())
    return CandidateEvent(**data)


class Checkpoint:
    """The gepa state of one run: saved by gepa into `run_dir`, uploaded to MLflow as it changes.

    Hooks: `prefill(optimizer)` (a resumed run shows its candidates at once), `attach(...)` (from
    `StreamingGepaOptimizer.optimize`), `known(event)` and `before_write` / `after_write` (from
    `CandidateLogger`); it is itself a gepa callback (`on_iteration_start`, `on_state_saved`,
    `on_valset_evaluated`).
    """

    def __init__(self, resume: Restored | None = None):
        self.resume = resume
        self.run_dir = tempfile.mkdtemp(prefix="gepa-jupyter-state-")
        self._upload_dir = tempfile.mkdtemp(prefix="gepa-jupyter-upload-")
        self.client = None
        self.run_id: str | None = None
        self.writer = None
        self.state = None
        self.errors: list[str] = []
        self._known = 0
        self._saved = 0  # candidates in the newest state file
        self._uploaded = 0  # candidates in the newest uploaded state
        self._version = self._uploaded_version = 0
        self._pending = False
        self._condition = threading.Condition()
        if resume is not None and resume.state_bytes is not None:
            with open(os.path.join(self.run_dir, STATE_FILE), "wb") as handle:
                handle.write(resume.state_bytes)
            self._known = self._saved = self._uploaded = len(resume.candidates)

    # ----- hooks --------------------------------------------------------------------------------
    def prefill(self, optimizer) -> None:
        """Put the candidates already scored in the optimizer (the table shows them at once)."""
        if self.resume is not None:
            optimizer.candidates.extend(self.resume.candidates)
            optimizer.metric_calls = self.resume.metric_calls

    def attach(self, optimizer, kwargs: dict, adapter, guard, listener) -> None:
        """Give gepa the run_dir and this callback; on resume, continue the counters."""
        kwargs["run_dir"] = self.run_dir
        kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), self]
        self.client, self.run_id, self.writer = optimizer.client, optimizer.run_id, optimizer.writer
        resume = self.resume
        if resume is None:
            return
        adapter.completed = guard.reserved = resume.metric_calls
        listener.best_score = max((c.score for c in resume.candidates), default=float("-inf"))
        listener.started -= resume.elapsed
        if resume.state_bytes is not None:
            _answer_first_evaluation(adapter, resume)

    def known(self, event: dict) -> bool:
        """A validation event of a candidate restored from the saved state (not a new one)."""
        return int(event["candidate_idx"]) < self._known

    def before_write(self, candidate: CandidateEvent) -> None:
        """On the writer thread, before a candidate's MLflow write: upload a state that holds it."""
        with self._condition:
            self._condition.wait_for(lambda: self._saved > candidate.index, timeout=STATE_WAIT)
        if self._uploaded <= candidate.index:
            self._upload()

    def after_write(self, candidates: list) -> None:
        """After a candidate's MLflow write: the scores table for watchers and resumes."""
        path = os.path.join(self._upload_dir, CANDIDATES_FILE)
        with open(path, "w") as handle:
            json.dump([candidate_to_json(c) for c in candidates], handle, default=str)
        self.client.log_artifact(self.run_id, path, ARTIFACT_DIR)

    def reopen(self, client, spec) -> None:
        """Mark the resumed MLflow run running again and write what a crash cut off (run's thread)."""
        from mlflow.entities import RunTag

        from gepa_jupyter.core import liveness

        resume = self.resume
        self.client, self.run_id = client, resume.run_id
        client.update_run(resume.run_id, status="RUNNING")
        for tag in (liveness.DIED_TAG, liveness.ERROR_TAG):
            try:
                client.delete_tag(resume.run_id, tag)
            except Exception:  # not there
                pass
        tags = {liveness.STATUS_TAG: "running", RESUMES_TAG: str(resume.resumes),
                BUDGET_TAG: str(spec.options["max_metric_calls"])}
        client.log_batch(resume.run_id, tags=[RunTag(k, v) for k, v in tags.items()])
        written = backfill(client, resume, spec.validation_records, resume.complete_steps, resume.metric_steps)
        if written or resume.listed < len(resume.candidates):
            self.after_write(resume.candidates)

    # ----- gepa callbacks ---------------------------------------------------------------------------
    def on_iteration_start(self, event) -> None:
        self.state = event["state"]

    def on_state_saved(self, event) -> None:
        self._saved_now(len(self.state.program_candidates) if self.state is not None else 1)

    def on_valset_evaluated(self, event) -> None:
        if self.state is not None and int(event["iteration"]) > 0:
            self.state.save(self.run_dir)  # now, not at the next iteration: a crash keeps this candidate
            self._saved_now(len(self.state.program_candidates))

    # ----- saving -----------------------------------------------------------------------------------
    def _saved_now(self, count: int) -> None:
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
        source = os.path.join(self.run_dir, STATE_FILE)
        if not os.path.exists(source):
            return
        copy = os.path.join(self._upload_dir, STATE_FILE)
        shutil.copyfile(source, copy)
        state = self.state
        self.client.log_artifact(self.run_id, copy, ARTIFACT_DIR)
        self._uploaded, self._uploaded_version = max(self._uploaded, count), version
        mark = {"candidates": count, "saved_at": round(time.time(), 3)}
        if state is not None:
            mark |= {"metric_calls": state.total_num_evals, "iteration": state.i + 1}
        self.client.set_tag(self.run_id, CHECKPOINT_TAG, json.dumps(mark))

    def close(self) -> None:
        for folder in (self.run_dir, self._upload_dir):
            shutil.rmtree(folder, ignore_errors=True)


def _answer_first_evaluation(adapter, resume: Restored) -> None:
    """gepa scores the seed on the validation set before loading the state it then uses instead:
    answer that evaluation from the state (no model call, no metric call)."""
    evaluate = adapter.evaluate

    def first(batch, candidate, capture_traces=False):
        adapter.evaluate = evaluate
        if dict(candidate) != resume.seed_prompts or len(batch) != len(resume.seed_scores):
            return evaluate(batch, candidate, capture_traces)
        import gepa

        scores = [float(resume.seed_scores.get(i, 0.0)) for i in range(len(batch))]
        return gepa.EvaluationBatch(outputs=[""] * len(batch), scores=scores, trajectories=None)

    adapter.evaluate = first


def backfill(client, restored: Restored, validation: list[dict], complete: set[int], with_metric: set[int]) -> list[int]:
    """Write the candidates whose MLflow write a crash cut off (scores from the saved state); their steps.

    `complete`: steps with their metric and files; `with_metric`: steps whose metric was logged."""
    from gepa_jupyter.core import tracking

    written = []
    for candidate in restored.candidates:
        if candidate.step in complete:
            continue
        scores = restored.row_scores.get(candidate.index, {})
        rows = [_Row(record, scores.get(i)) for i, record in enumerate(validation)]
        tracking.log_candidate(candidate.step, candidate.prompts, rows, candidate.score, dict(candidate.scorer_scores),
                               run_id=restored.run_id, client=client, metrics=candidate.step not in with_metric)
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
