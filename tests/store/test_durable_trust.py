"""Trust what is stored: a resume runs no stored code (a planted pickle is never loaded), loses no
candidate whatever part of the state is missing or damaged (or refuses in one line), one process
at a time continues a run, a resume records the model it uses, and Ctrl-C in `wait()` stops the run."""

import json
import os
import pickle
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from mlflow import MlflowClient

import gepa_jupyter
from gepa_jupyter import InputError
from gepa_jupyter.core.durability import checkpoint, claims
from gepa_jupyter.core.errors import RunConflictError
from gepa_jupyter.durable import prepare_resume
from gepa_jupyter.testing import SEED_PROMPT, FakeReflectionModel, FakeTaskModel, register_fake_provider
from gepa_jupyter.core.tracking import schema
from tests.store.test_durable import _stopped_run
from tests.helpers import assert_scores_match_mlflow, candidate_dirs, candidate_files, eval_score_history
from tests.store.test_remote_tracking import tracking_server  # noqa: F401 - the fixture

ROOT = Path(__file__).resolve().parents[2]


def _stopped(reviews, candidates: int = 3, **kwargs):
    """A run of URI models stopped after `candidates` candidates (everything a resume needs is stored)."""
    register_fake_provider(task=FakeTaskModel(latency=0.01))
    return _stopped_run(reviews, candidates, model="fake:/task", reflection_model="fake:/reflection", **kwargs)


def _artifacts(run_id: str) -> Path:
    """The run's artifact folder on disk (a sqlite store keeps them in ./mlruns)."""
    uri = MlflowClient().get_run(run_id).info.artifact_uri
    return Path(unquote(urlparse(uri).path)) if uri.startswith("file:") else Path(uri)


def _stored(run_id: str) -> dict:
    """What the store holds of the run's candidates: their prompts and eval_score steps."""
    return {"prompts": [candidate_files(run_id, d)["durable.txt"] for d in candidate_dirs(run_id)],
            "steps": [s for s, _ in eval_score_history(run_id)], "scores": [v for _, v in eval_score_history(run_id)]}


class Boom:
    """A pickle that runs code when loaded (what an attacker with write access to the store plants)."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _resume_to_the_end(run_id: str, more: int = 40):
    resumed = gepa_jupyter.resume(run_id, max_metric_calls=more)
    assert resumed.wait(120) and resumed.status == "finished", resumed.error
    return resumed


def _assert_kept(before: dict, resumed) -> None:
    after = _stored(resumed.run_id)
    assert after["prompts"][:len(before["prompts"])] == before["prompts"], "no stored candidate was overwritten"
    assert after["steps"] == list(range(len(after["steps"]))), "one eval_score per step: continued, not repeated"
    assert len(after["steps"]) > len(before["steps"]), "new candidates came after the stored ones"
    assert max(after["scores"]) >= max(before["scores"]), "the best candidate was kept"
    assert list(resumed.scores.prompt[:len(before["prompts"])]) == before["prompts"]
    assert_scores_match_mlflow(resumed)


def test_the_state_is_stored_as_json_and_a_planted_pickle_is_never_loaded(tracking, reviews, tmp_path):
    run = _stopped(reviews)
    folder = _artifacts(run.run_id) / schema.ARTIFACT_DIR
    assert not (folder / schema.LEGACY_STATE_FILE).exists(), "no pickle is written"
    state = json.loads((folder / schema.STATE_FILE).read_text())
    assert state["format"] == checkpoint.FORMAT and len(state["candidates"]) == len(run.candidates)
    assert [c["durable"] for c in state["candidates"]] == list(run.scores.prompt)
    assert set(state) >= {"val_scores", "parents", "pareto_front", "metric_calls", "iteration"}
    before = _stored(run.run_id)
    marker = tmp_path / "pwned"
    (folder / schema.LEGACY_STATE_FILE).write_bytes(pickle.dumps(Boom(str(marker))))
    (folder / schema.STATE_FILE).write_bytes(pickle.dumps(Boom(str(marker))))  # even in the JSON's place

    with pytest.warns(UserWarning, match=r"damaged.*rebuilt from its \d+ stored candidates"):
        resumed = _resume_to_the_end(run.run_id)

    assert not marker.exists(), "the planted pickle ran code"
    _assert_kept(before, resumed)
    assert json.loads((folder / schema.STATE_FILE).read_text())["format"] == checkpoint.FORMAT, \
        "the rebuilt state replaced the planted file"


def test_no_code_of_ours_unpickles_anything():
    loads = re.compile(r"\b(c?pickle|cloudpickle|joblib|dill|marshal|shelve)\b.*\b(load|loads|Unpickler|open)\b"
                       r"|GEPAState\.load\b|initialize_gepa_state")  # gepa's loader unpickles its run_dir
    found = [f"{path}:{n}" for path in (ROOT / "gepa_jupyter").rglob("*.py")
             for n, line in enumerate(path.read_text().splitlines(), 1) if loads.search(line)]
    assert not found, found


def test_a_run_saved_in_the_previous_format_resumes_from_its_candidates_without_reading_the_pickle(
        tracking, reviews, tmp_path):
    run = _stopped(reviews)
    folder = _artifacts(run.run_id) / schema.ARTIFACT_DIR
    marker = tmp_path / "pwned"
    (folder / schema.STATE_FILE).unlink()
    (folder / schema.LEGACY_STATE_FILE).write_bytes(pickle.dumps(Boom(str(marker))))
    before = _stored(run.run_id)

    with pytest.warns(UserWarning, match=r"older gepa-jupyter \(gepa_jupyter/gepa_state.bin, a pickle, which is "
                                         r"never read.*rebuilt from its \d+ stored candidates"):
        resumed = _resume_to_the_end(run.run_id)

    assert not marker.exists()
    _assert_kept(before, resumed)
    assert resumed.spec.resume.metric_calls >= run.metric_calls - 5, "the budget used was kept"


@pytest.mark.parametrize("damage", ["missing", "truncated", "malformed", "missing, candidates.json too"])
def test_a_missing_or_damaged_state_is_rebuilt_from_the_stored_candidates(tracking, reviews, damage):
    run = _stopped(reviews)
    folder = _artifacts(run.run_id) / schema.ARTIFACT_DIR
    state = folder / schema.STATE_FILE
    if damage.startswith("missing"):
        state.unlink()
    elif damage == "truncated":
        state.write_bytes(state.read_bytes()[:200])
    else:
        data = json.loads(state.read_text())
        data["val_scores"][1] = {"0": "high"}
        state.write_text(json.dumps(data))
    if "candidates.json" in damage:
        (folder / schema.CANDIDATES_FILE).unlink()
    before = _stored(run.run_id)

    with pytest.warns(UserWarning, match=r"rebuilt from its \d+ stored candidates"):
        resumed = _resume_to_the_end(run.run_id)

    _assert_kept(before, resumed)
    info = MlflowClient().get_run(run.run_id)
    assert info.data.tags["gepa_jupyter.resumes"] == "1" and info.info.status == "FINISHED"


def test_a_candidate_that_cannot_be_rebuilt_refuses_in_one_line_and_changes_nothing(tracking, reviews, tmp_path):
    run = _stopped(reviews)
    artifacts = _artifacts(run.run_id)
    (artifacts / schema.ARTIFACT_DIR / schema.STATE_FILE).unlink()
    (artifacts / "prompt_candidates" / "iteration_2" / "eval_results.json").unlink()
    before = _stored(run.run_id)
    info = MlflowClient().get_run(run.run_id)

    with pytest.raises(InputError, match=r"cannot be resumed without losing candidate 2: its scores by row "
                                         r"\(prompt_candidates/iteration_2/eval_results.json\) are missing.*"
                                         r"saved state \(gepa_jupyter/state.json\) is missing"):
        gepa_jupyter.resume(run.run_id, max_metric_calls=40)
    done = subprocess.run([sys.executable, "-m", "gepa_jupyter", "resume", run.run_id, "--budget", "40"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={**os.environ, "MLFLOW_TRACKING_URI": tracking})
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "losing candidate 2" in lines[0] and "Traceback" not in done.stderr, done.stderr

    after = MlflowClient().get_run(run.run_id)
    assert _stored(run.run_id)["steps"] == before["steps"] and after.info.status == info.info.status
    assert after.data.tags.get("gepa_jupyter.resumes") == info.data.tags.get("gepa_jupyter.resumes")
    assert not claims.claims(after) or after.data.tags.get(schema.RELEASED_TAG), "a refused resume holds no claim"


def test_the_optimized_alias_never_moves_to_a_worse_prompt_of_the_same_run(tracking, reviews):
    from gepa_jupyter.core.events import CandidateEvent
    from gepa_jupyter.core.tracking import registry

    client = MlflowClient()
    run = client.create_run(client.get_experiment_by_name("Default").experiment_id).info.run_id

    def best(score, text):
        return CandidateEvent(index=1, iteration=1, parents=(0,), score=score, scorer_scores={}, prompts={"p": text},
                              metric_calls=1, elapsed=0.0, new_best=True, step=1)

    good, aliased = registry.register_best(client, "p", "good {{x}}", run_id=run, best=best(1.0, "good {{x}}"),
                                           seed_score=0.5, seed_version=None, holdout={})
    assert aliased
    worse, aliased = registry.register_best(client, "p", "worse {{x}}", run_id=run, best=best(0.875, "worse {{x}}"),
                                            seed_score=0.5, seed_version=None, holdout={})
    assert not aliased and int(client.get_prompt_version_by_alias("p", "optimized").version) == good


def test_resume_with_another_model_records_the_model_it_uses(tracking, reviews):
    run = _stopped(reviews, candidates=2)
    register_fake_provider()
    resumed = gepa_jupyter.resume(run.run_id, max_metric_calls=40, model="fake:/task-bigger")
    assert resumed.wait(120) and resumed.status == "finished", resumed.error
    info = MlflowClient().get_run(run.run_id)
    assert info.data.params["gepa_jupyter.model"] == "fake:/task", "params keep the first start's (immutable)"
    assert info.data.tags["gepa_jupyter.current.model"] == "fake:/task-bigger"
    assert resumed.models["model"] == "fake:/task-bigger"
    watched = gepa_jupyter.watch(run.run_id)
    assert watched.wait(60) and watched.models == {"model": "fake:/task-bigger", "reflection_model": "fake:/reflection"}
    from gepa_jupyter.views.state import snapshot

    assert snapshot(watched).models["model"] == "fake:/task-bigger"


def test_ctrl_c_in_wait_stops_the_run(tracking, reviews):
    import signal

    task = FakeTaskModel(latency=0.02)
    run = gepa_jupyter.optimize(SEED_PROMPT, reviews, model=task, reflection_model=FakeReflectionModel(),
                                max_metric_calls=2000, cache=False)
    while len(run.candidates) < 1:
        time.sleep(0.01)
    threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()  # Ctrl-C, as a terminal or a kernel sends it
    with pytest.raises(KeyboardInterrupt):
        run.wait()
    assert run.status == "stopped", run.status
    assert run.wait(30), "the stopped run did not end"  # its MLflow run's end may take a moment under load
    calls = task.calls
    time.sleep(1.0)
    assert task.calls == calls, "the run went on spending after Ctrl-C"
    assert MlflowClient().get_run(run.run_id).info.status == "KILLED"


# ----- one writer per run ----------------------------------------------------------------------------------
CLAIMANT = r"""
import json, os, sys, time
import mlflow
from gepa_jupyter.core.errors import RunConflictError
from gepa_jupyter.durable import prepare_resume
from gepa_jupyter.testing import register_fake_provider
register_fake_provider()
run_id, me, rounds, folder = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
from gepa_jupyter.core.durability import claims
from mlflow import MlflowClient
client = MlflowClient()
for n in range(rounds + 1):
    if n:
        started = os.path.join(folder, f"start-{n}")
        start = float(open(started).read()) if os.path.exists(started) else None
        while start is None:
            time.sleep(0.005)
            path = os.path.join(folder, f"start-{n}")
            start = float(open(path).read()) if os.path.exists(path) else None
        while time.time() < start:
            pass
    try:
        spec = prepare_resume(run_id, max_metric_calls=40)
        result = {"won": spec.resume.claim.number, "pid": os.getpid()}
    except RunConflictError as e:
        spec, result = None, {"lost": str(e), "pid": os.getpid()}
    with open(os.path.join(folder, f"{me}-{n}.tmp"), "w") as handle:
        json.dump(result, handle)
    os.replace(os.path.join(folder, f"{me}-{n}.tmp"), os.path.join(folder, f"{me}-{n}"))
    while not all(os.path.exists(os.path.join(folder, f"{who}-{n}")) for who in ("a", "b")):
        time.sleep(0.005)
    if spec is not None:
        claims.release(client, spec.resume.claim)
    with open(os.path.join(folder, f"{me}-{n}.released"), "w"):
        pass
"""


def _race(run_id: str, uri: str, tmp_path: Path, rounds: int = 10) -> list[tuple[dict, dict]]:
    """Two processes claim the run at the same instant, `rounds` times; their answers per round."""
    folder = tmp_path / "race"
    folder.mkdir()
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    workers = [subprocess.Popen([sys.executable, "-c", CLAIMANT, run_id, me, str(rounds), str(folder)], env=env,
                                cwd=tmp_path, stderr=open(tmp_path / f"{me}.err", "w")) for me in ("a", "b")]
    results = []
    try:
        for n in range(rounds + 1):
            deadline = time.monotonic() + 180
            while not all((folder / f"{me}-{n}.released").exists() for me in ("a", "b")):
                assert time.monotonic() < deadline and all(w.poll() is None for w in workers), \
                    (tmp_path / "a.err").read_text()[-2000:] + (tmp_path / "b.err").read_text()[-2000:]
                time.sleep(0.02)
            if n:
                results.append(tuple(json.loads((folder / f"{me}-{n}").read_text()) for me in ("a", "b")))
            if n < rounds:
                (folder / f"start-{n + 1}.tmp").write_text(str(time.time() + 0.5))
                os.replace(folder / f"start-{n + 1}.tmp", folder / f"start-{n + 1}")
    finally:
        for worker in workers:
            worker.kill()
            worker.wait(30)
    return results


def _assert_one_winner_each_round(results: list, run_id: str) -> None:
    for a, b in results:
        winners = [r for r in (a, b) if "won" in r]
        losers = [r for r in (a, b) if "lost" in r]
        assert len(winners) == 1 and len(losers) == 1, (a, b)
        message = losers[0]["lost"]
        assert "\n" not in message
        assert f"MLflow run {run_id} is being resumed by process {winners[0]['pid']} on " in message
        assert re.search(r"since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", message), message
    numbers = [next(r["won"] for r in pair if "won" in r) for pair in results]
    assert numbers == list(range(numbers[0], numbers[0] + len(results))), "each claim numbered on, none twice"


def test_two_processes_resuming_at_the_same_instant_one_wins_ten_times_on_sqlite(tracking, reviews, tmp_path):
    run = _stopped(reviews, candidates=2)
    results = _race(run.run_id, tracking, tmp_path)
    _assert_one_winner_each_round(results, run.run_id)


def test_a_dead_claimant_expires_and_a_live_one_refuses(tracking, reviews):
    run = _stopped(reviews, candidates=2)
    client = MlflowClient()
    dead = {"host": __import__("socket").gethostname(), "pid": 2 ** 22 + 7, "boot": None, "pidns": None,
            "token": "gone", "since": time.time()}
    from gepa_jupyter.core.durability import liveness

    dead |= {k: liveness.this_process()[k] for k in ("boot", "pidns")}
    client.log_param(run.run_id, f"{schema.CLAIM_PREFIX}1", json.dumps(dead))
    spec = prepare_resume(run.run_id, max_metric_calls=40)
    assert spec.resume.claim.number == 2, "the dead process's claim expired"
    with pytest.raises(RunConflictError, match=rf"being resumed by process {os.getpid()} on "):
        prepare_resume(run.run_id, max_metric_calls=40)
    claims.release(client, spec.resume.claim)
    far = {"host": "another-machine", "pid": 1, "token": "far", "since": time.time() - 10}
    client.log_param(run.run_id, f"{schema.CLAIM_PREFIX}3", json.dumps(far))
    with pytest.raises(RunConflictError, match="process 1 on another-machine since"):
        prepare_resume(run.run_id, max_metric_calls=40)


@pytest.mark.slow
def test_two_processes_resuming_at_the_same_instant_one_wins_ten_times_on_a_server(tracking_server, reviews, tmp_path):
    run = _stopped(reviews, candidates=2)
    _assert_one_winner_each_round(_race(run.run_id, tracking_server["url"], tmp_path), run.run_id)
