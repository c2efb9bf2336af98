"""Checks for the fault suite: did a run end honestly, and is every candidate it scored kept?

`GepaWitness` is a gepa callback passed through `gepa_kwargs={"callbacks": [...]}`: it records,
independently of the optimizer under test, each candidate gepa scored on the validation set.
`audit(run, witness)` compares that record with `run.scores` and with what MLflow holds.
"""

import json
import os
import threading
import time

from gepa_jupyter.core.inputs.budget import MINIBATCH
from gepa_jupyter.core.insight.frame import scorer_columns
from tests.helpers import candidate_dirs, candidate_files, eval_score_history

MLFLOW_STATUS = {"finished": "FINISHED", "stopped": "KILLED", "failed": "FAILED"}


class GepaWitness:
    """gepa callback: every validation candidate gepa scored, and the last budget it reported."""

    def __init__(self):
        self.candidates: list[tuple[int, float, dict]] = []  # (candidate_idx, average_score, prompts)
        self.metric_calls = 0
        self._lock = threading.Lock()

    def on_valset_evaluated(self, event):
        with self._lock:
            self.candidates.append((int(event["candidate_idx"]), float(event["average_score"]),
                                    dict(event["candidate"])))

    def on_budget_updated(self, event):
        self.metric_calls = max(self.metric_calls, int(event["metric_calls_used"]))


def wait_bounded(run, timeout: float) -> tuple[bool, float]:
    """(ended within `timeout`, seconds waited). A run that did not end is stopped, then awaited."""
    started = time.monotonic()
    ended = run.wait(timeout)
    waited = time.monotonic() - started
    if not ended:
        import faulthandler
        import sys

        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        run.stop()
        run.wait(120)
    return ended, waited


def status_problems(run, stop_requested: bool) -> list[str]:
    """Why the run's status is not honest (empty when it is)."""
    from mlflow import MlflowClient

    problems = []
    if run.status not in MLFLOW_STATUS:
        return [f"status {run.status!r} after the run ended"]
    if run.run_id is None:  # ended before its MLflow run was created: only a stop may do that
        if run.status != "stopped" or run.candidates:
            problems.append(f"{run.status} with {len(run.candidates)} candidates but no MLflow run")
    else:
        info = MlflowClient().get_run(run.run_id)
        if info.info.status != MLFLOW_STATUS[run.status]:
            problems.append(f"run.status {run.status} but MLflow {info.info.status}")
        if info.data.tags.get("gepa_jupyter.status") != run.status:
            problems.append(f"tag gepa_jupyter.status {info.data.tags.get('gepa_jupyter.status')!r} != {run.status}")
    if run.status == "failed" and not run.error:
        problems.append("failed without an error message")
    if run.status == "finished" and run.metric_calls <= run.max_metric_calls - run.validation_size - MINIBATCH:
        # "finished" means the budget could not afford another candidate: the next validation
        # (or minibatch) would have gone past it by more than one minibatch
        problems.append(f"finished with {run.metric_calls}/{run.max_metric_calls} metric calls (not the budget)")
    if run.status == "stopped" and not stop_requested:
        problems.append("stopped though nobody asked it to stop")
    if run.status != "failed" and run.candidates and run.registered_version is None:
        problems.append("ended without registering the best prompt")
    return problems


def audit(run, witness: GepaWitness) -> tuple[int, list[str]]:
    """(candidates lost, what differs): each candidate gepa scored must be a row of run.scores
    (same index, score and prompt, same order) and an MLflow step (eval_score, scores.json, prompt)."""
    frame = run.scores
    rows = list(zip(frame["candidate"], frame["score"], frame["prompt"])) if len(frame) else []
    lost, problems = 0, []
    for position, (index, average, prompts) in enumerate(witness.candidates):
        row = rows[position] if position < len(rows) else None
        if (row is None or row[0] != index or abs(row[1] - average) > 1e-9
                or row[2] != prompts.get(run.prompt_name)):
            lost += 1
            problems.append(f"gepa candidate {index} (score {average}) is not row {position} of run.scores: {row}")
    if len(rows) > len(witness.candidates):
        problems.append(f"{len(rows) - len(witness.candidates)} rows in run.scores that gepa never scored")
    history = dict(eval_score_history(run.run_id)) if run.run_id else {}
    dirs = set(candidate_dirs(run.run_id)) if rows else set()
    scorers = scorer_columns(frame)
    for step, (index, score, prompt) in enumerate(rows):
        directory = f"prompt_candidates/iteration_{step}"
        missing = []
        if step not in history or abs(history[step] - score) > 1e-9:
            missing.append(f"eval_score step {step} = {history.get(step)}")
        if directory not in dirs:
            missing.append(f"no {directory}")
        else:
            files = candidate_files(run.run_id, directory)
            if files.get(f"{run.prompt_name}.txt") != prompt:
                missing.append("prompt file differs")
            logged = json.loads(files.get("scores.json", "{}"))
            if abs(logged.get("aggregate", float("nan")) - score) > 1e-9:
                missing.append(f"scores.json aggregate {logged.get('aggregate')}")
            for name in scorers:
                value = frame[name].iloc[step]
                if value == value and abs(logged.get("per_scorer", {}).get(name, float("nan")) - value) > 1e-9:
                    missing.append(f"scores.json {name}")
        if missing:
            lost += 1
            problems.append(f"row {step} (candidate {index}) not in MLflow as in run.scores: {missing}")
    extra_steps = sorted(set(history) - set(range(len(rows))))
    if extra_steps:
        problems.append(f"MLflow eval_score steps with no row: {extra_steps}")
    return lost, problems


class Tally:
    """Counts for the suite's summary, written to test-artifacts/fault_suite.json."""

    def __init__(self):
        self.scenarios: dict[str, dict] = {}

    def record(self, scenario: str, *, faults: int, run=None, lost: int = 0, hang: bool = False,
               problems: list[str] = (), seconds: float = 0.0, stop_latency: float | None = None,
               fault_kinds: dict | None = None, candidates: int | None = None) -> None:
        row = self.scenarios.setdefault(scenario, {
            "runs": 0, "faults_injected": 0, "fault_kinds": {}, "candidates_scored": 0, "candidates_lost": 0,
            "hangs": 0, "dishonest": 0, "statuses": {}, "max_seconds_to_end": 0.0,
            "max_stop_latency_s": None, "problems": []})
        row["runs"] += 1
        row["faults_injected"] += faults
        for kind, count in (fault_kinds or {}).items():
            row["fault_kinds"][kind] = row["fault_kinds"].get(kind, 0) + count
        row["candidates_scored"] += candidates if candidates is not None else (len(run.scores) if run else 0)
        row["candidates_lost"] += lost
        row["hangs"] += int(hang)
        row["dishonest"] += int(bool(problems))
        if run is not None:
            row["statuses"][run.status] = row["statuses"].get(run.status, 0) + 1
        row["max_seconds_to_end"] = round(max(row["max_seconds_to_end"], seconds), 2)
        if stop_latency is not None:
            row["max_stop_latency_s"] = round(max(row["max_stop_latency_s"] or 0.0, stop_latency), 2)
        row["problems"].extend(list(problems)[:5])

    def totals(self) -> dict:
        keys = ("runs", "faults_injected", "candidates_scored", "candidates_lost", "hangs", "dishonest")
        return {k: sum(s[k] for s in self.scenarios.values()) for k in keys}

    def write(self, path: str) -> dict:
        report = {"totals": self.totals(), "scenarios": self.scenarios}
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            json.dump(report, handle, indent=2, sort_keys=True)
        return report
