"""Stores that survive: two processes starting on a new sqlite tracking file at the same moment, a
sqlite file an earlier race left half-migrated, and a damaged response-cache file."""

import os
import subprocess
import sys
import time
import warnings

import pytest
from mlflow import MlflowClient

import gepa_jupyter
from gepa_jupyter.models.cache import DamagedCacheWarning
from gepa_jupyter.testing import SEED_PROMPT, register_fake_provider, sentiment_data

ROUNDS = 10

# One "kernel": for each round, wait for the go signal, then optimize on that round's new sqlite file.
KERNEL = r"""
import os, sys, time
import mlflow, gepa_jupyter
from gepa_jupyter.testing import SEED_PROMPT, FakeReflectionModel, FakeTaskModel, sentiment_data
folder, name, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = sentiment_data()
for i in range(rounds):
    open(os.path.join(folder, f"ready-{i}-{name}"), "w").close()
    while not os.path.exists(os.path.join(folder, f"go-{i}")):
        time.sleep(0.001)
    mlflow.set_tracking_uri(f"sqlite:///{folder}/round-{i}.db")
    try:
        run = gepa_jupyter.optimize(SEED_PROMPT, data, model=FakeTaskModel(), reflection_model=FakeReflectionModel(),
                                    max_metric_calls=14, cache=False)
        run.wait(120)
        result = f"{run.status} {run.error}"
    except Exception as e:
        result = f"crashed {type(e).__name__}: {e}"
    with open(os.path.join(folder, f"done-{i}-{name}"), "w") as handle:
        handle.write(result)
"""


def _wait_for(paths, timeout=180.0):
    deadline = time.monotonic() + timeout
    while not all(os.path.exists(p) for p in paths):
        assert time.monotonic() < deadline, f"waited for {paths}"
        time.sleep(0.005)


def test_two_processes_starting_on_a_new_sqlite_file_ten_times(tmp_path):
    kernels = [subprocess.Popen([sys.executable, "-c", KERNEL, str(tmp_path), name, str(ROUNDS)],
                                stderr=open(tmp_path / f"{name}.err", "w"), cwd=tmp_path) for name in ("a", "b")]
    outcomes, unusable = [], []
    try:
        for i in range(ROUNDS):
            _wait_for([tmp_path / f"ready-{i}-{name}" for name in "ab"])
            (tmp_path / f"go-{i}").touch()  # both start on the new file at the same moment
            done = [tmp_path / f"done-{i}-{name}" for name in "ab"]
            _wait_for(done)
            outcomes += [path.read_text() for path in done]
            try:  # a later process can use the file
                runs = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/round-{i}.db").search_runs(["0"])
                assert sorted(r.info.status for r in runs) == ["FINISHED", "FINISHED"]
            except Exception as e:
                unusable.append(f"round {i}: {type(e).__name__}: {e}")
    finally:
        for kernel in kernels:
            kernel.wait(60)
    crashes = [o for o in outcomes if not o.startswith("finished")]
    assert not crashes and not unusable, (crashes, unusable, (tmp_path / "a.err").read_text()[-2000:])
    assert len(outcomes) == 2 * ROUNDS


def test_a_sqlite_file_left_half_migrated_by_an_earlier_race_is_repaired(tmp_path):
    """What 1 try in 4 left behind: an interrupted migration's empty `_alembic_tmp_tags` table, and
    every later process failing with `table _alembic_tmp_tags already exists`."""
    import sqlalchemy
    from alembic import command
    from mlflow.store.db.utils import _get_alembic_config, create_sqlalchemy_engine_with_retry
    from mlflow.store.tracking.dbmodels.initial_models import Base as InitialBase

    from gepa_jupyter.core.tracking import stores

    uri = f"sqlite:///{tmp_path}/raced.db"
    engine = create_sqlalchemy_engine_with_retry(uri)
    InitialBase.metadata.create_all(engine)
    with engine.begin() as connection:
        config = _get_alembic_config(str(engine.url))
        config.attributes["connection"] = connection
        command.upgrade(config, "4465047574b1")  # the migration before the one that copies `tags`
        connection.execute(sqlalchemy.text('CREATE TABLE "_alembic_tmp_tags" (key VARCHAR(250), value VARCHAR(5000))'))
    engine.dispose()
    with pytest.raises(Exception, match="_alembic_tmp_tags already exists"):
        MlflowClient(tracking_uri=uri).search_experiments()  # mlflow alone: unusable
    stores.ready(uri)
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/./raced.db")  # a fresh store object for the file
    assert [e.name for e in client.search_experiments()] == ["Default"]


@pytest.mark.parametrize("damage", ["truncated", "garbage", "folder"])
def test_a_damaged_cache_file_is_moved_aside_and_the_run_goes_on(tracking, tmp_path, damage):
    path = tmp_path / "responses.sqlite"
    register_fake_provider()
    first = gepa_jupyter.optimize(SEED_PROMPT, sentiment_data(), model="fake:/task",
                                  reflection_model="fake:/reflection", max_metric_calls=40, cache=str(path))
    assert first.wait(60) and first.status == "finished"
    data = path.read_bytes()
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"responses.sqlite{suffix}").unlink(missing_ok=True)
    if damage == "truncated":
        path.write_bytes(data[:len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(os.urandom(len(data)))
    else:
        path.unlink()
        path.mkdir()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = gepa_jupyter.optimize(SEED_PROMPT, sentiment_data(), model="fake:/task",
                                    reflection_model="fake:/reflection", max_metric_calls=40, cache=str(path))
        assert run.wait(60) and run.status == "finished", run.error
    damaged = [w for w in caught if issubclass(w.category, DamagedCacheWarning)]
    assert len(damaged) == 1, [str(w.message) for w in caught]
    message = str(damaged[0].message)
    assert str(path) in message and "moved it aside" in message
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("responses.sqlite.damaged-")]
    assert len(aside) == 1 and aside[0].name in message
    assert path.is_file() and run.usage["task"]["calls"] > 0, "a fresh cache took its place"
    again = gepa_jupyter.optimize(SEED_PROMPT, sentiment_data(), model="fake:/task",
                                  reflection_model="fake:/reflection", max_metric_calls=40, cache=str(path))
    assert again.wait(60) and again.usage["task"]["calls"] == 0, "and it works: a re-run is answered from it"


def test_a_prompt_tag_raced_by_another_process_is_set_again(tracking):
    """Two processes tagging the same reused version at once: sqlite says UNIQUE constraint (seen in
    1 of 2 ten-round race runs); the tag is set again instead of failing the run."""
    from gepa_jupyter.core.events import CandidateEvent
    from gepa_jupyter.core.tracking import registry

    client = MlflowClient()
    registry.register_seed(client, "raced", "Classify: {{review}}")
    real, calls = client.set_prompt_version_tag, []

    def raced_once(*args):
        calls.append(args)
        if len(calls) == 1:
            raise RuntimeError("(sqlite3.IntegrityError) UNIQUE constraint failed: model_version_tags.workspace")
        return real(*args)

    client.set_prompt_version_tag = raced_once
    best = CandidateEvent(index=1, iteration=1, parents=(0,), score=1.0, scorer_scores={}, prompts={},
                          metric_calls=10, elapsed=1.0, new_best=True, step=1)
    version, aliased = registry.register_best(client, "raced", "Classify well: {{review}}", run_id="no-such-run",
                                              best=best, seed_score=0.0, seed_version=1, holdout={})
    assert aliased and version == 2
    tags = client.get_prompt_version("raced", version).tags
    assert tags["gepa_jupyter.score"] == "1" and tags["gepa_jupyter.candidate"] == "1"
    assert calls[0] == calls[1], "the raced tag was set again"
