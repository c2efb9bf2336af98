"""The response cache: a re-run costs no model calls, and the cache is safe and never keeps secrets."""

import os
import sqlite3

import pytest

import gepa_jupyter
from gepa_jupyter.models import ModelSession
from gepa_jupyter.models.cache import ResponseCache, request_key
from gepa_jupyter.testing import SEED_PROMPT, FakeReflectionModel, FakeTaskModel, register_fake_provider, sentiment_data
from tests.models.test_retry import in_threads


@pytest.fixture
def fakes():
    return register_fake_provider(task=FakeTaskModel(), reflection=FakeReflectionModel())


def run_once(cache, **kwargs):
    run = gepa_jupyter.optimize(SEED_PROMPT, sentiment_data(), model="fake:/task", reflection_model="fake:/reflection",
                                max_metric_calls=80, cache=cache, **kwargs)
    assert run.wait(120) and run.status == "finished", run.traceback
    return run


def test_second_identical_run_makes_no_model_calls(tracking, tmp_path, fakes):
    task, reflection = fakes
    first = run_once(str(tmp_path / "cache"))
    assert first.usage["task"]["calls"] > 0 and first.usage["reflection"]["calls"] > 0
    # gepa evaluates the same prompt on the same rows more than once: already hits in run 1.
    assert first.usage["task"]["cache_hits"] > 0
    task_calls, reflection_calls = task.calls, reflection.calls

    second = run_once(str(tmp_path / "cache"))
    for role in ("task", "reflection"):
        assert second.usage[role]["calls"] == 0, second.usage
        assert second.usage[role]["cache_hits"] > 0
        assert second.usage[role]["prompt_tokens"] == 0 and second.usage[role]["cost"] == 0
    assert (task.calls, reflection.calls) == (task_calls, reflection_calls)  # the models were not reached
    assert second.best_prompt == first.best_prompt
    assert second.scores[["candidate", "score", "prompt"]].equals(first.scores[["candidate", "score", "prompt"]])
    assert second.scores["model_calls"].max() == 0


def test_cache_off_and_callables_are_never_cached(tracking, tmp_path, fakes, monkeypatch):
    task, _ = fakes
    monkeypatch.setenv("GEPA_JUPYTER_CACHE_DIR", str(tmp_path / "default"))
    off = ModelSession(cache=False)
    off.model("fake:/task", role="task")("hello"), off.model("fake:/task", role="task")("hello")
    assert task.calls == 2 and off.usage()["task"]["cache_hits"] == 0
    assert not (tmp_path / "default").exists()
    path = tmp_path / "c.sqlite"
    callable_task = FakeTaskModel()
    run = gepa_jupyter.optimize(SEED_PROMPT, sentiment_data(), model=callable_task,
                                reflection_model=FakeReflectionModel(), max_metric_calls=40, cache=str(path))
    assert run.wait(120) and run.status == "finished"
    assert run.usage["task"]["cache_hits"] == 0 and run.usage["task"]["calls"] == callable_task.calls
    assert not path.exists() or ResponseCache(str(path)).__len__() == 0


def test_default_location_follows_the_environment(monkeypatch, tmp_path, fakes):
    monkeypatch.setenv("GEPA_JUPYTER_CACHE_DIR", str(tmp_path / "env-cache"))
    session = ModelSession()
    session.model("fake:/task", role="task")("Classify: I love this blender, it works great.")
    session.close()
    assert (tmp_path / "env-cache" / "responses.sqlite").exists()
    explicit = ModelSession(cache=str(tmp_path / "mine.sqlite"))
    explicit.model("fake:/task", role="task")("hello")
    explicit.close()
    assert (tmp_path / "mine.sqlite").exists()


def test_only_deterministic_requests_are_cached(tmp_path, fakes):
    task, _ = fakes
    session = ModelSession(cache=str(tmp_path))
    warm = session.model("fake:/task", role="task", temperature=0.7)
    warm("hello"), warm("hello")
    assert task.calls == 2 and session.usage()["task"]["cache_hits"] == 0
    cold = session.model("fake:/task", role="task", max_tokens=5)
    cold("hello"), cold("hello")
    assert task.calls == 3 and session.usage()["task"]["cache_hits"] == 1
    other_params = session.model("fake:/task", role="task", max_tokens=6)
    other_params("hello")
    assert task.calls == 4  # sampling parameters are part of the key


def test_the_api_key_is_neither_in_the_key_nor_in_the_file(tmp_path, fakes):
    task, _ = fakes
    messages = [{"role": "user", "content": "hi"}]
    assert request_key("m", messages, {"temperature": 0, "api_key": "sk-a"}) == \
        request_key("m", messages, {"temperature": 0, "api_key": "sk-b"})
    assert request_key("m", messages, {"temperature": 0}) != request_key("m2", messages, {"temperature": 0})
    session = ModelSession(cache=str(tmp_path))
    session.model("fake:/task", role="task", api_key="sk-secret-one")("hello")
    session.model("fake:/task", role="task", api_key="sk-secret-two")("hello")
    assert task.calls == 1 and session.usage()["task"]["cache_hits"] == 1
    session.close()
    dump = "\n".join(sqlite3.connect(tmp_path / "responses.sqlite").iterdump())
    assert "sk-secret" not in dump and "hello" not in dump  # keys are hashes; only replies are kept


def test_concurrent_threads_and_connections(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    caches = [ResponseCache(path), ResponseCache(path)]
    def work(worker):
        cache = caches[worker % 2]
        for i in range(150):
            key = f"{worker}-{i}"
            cache.put(key, "m", {"text": key})
            assert cache.get(key) == {"text": key}
            assert cache.get(f"{(worker + 1) % 8}-{i}") in (None, {"text": f"{(worker + 1) % 8}-{i}"})

    errors = in_threads(work, 8, timeout=60)
    assert not errors and len(caches[0]) == 8 * 150
    for cache in caches:
        cache.close()
    assert os.path.getsize(path) > 0
