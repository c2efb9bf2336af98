"""Typed contracts: `optimize`'s RunOptions TypedDict in step with OPTIONS, and the RunView Protocol
that both the live run and the watched run satisfy."""

import collections.abc
import os
import types
import typing
from typing import Any, Callable, Literal

from mlflow.genai.scorers import Scorer

import gepa_jupyter
from gepa_jupyter.core.options import OPTIONS, RunOptions

# What each option kind takes, without None (None is allowed where the default or the check allows it).
KINDS = {
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "model": str | Callable[[str], str],
    "callable": Callable[..., Any],
    "scorers": str | Scorer | collections.abc.Sequence[str | Scorer],
    "dict": dict[str, Any],
    "value": bool | str | os.PathLike[str],
}


def _without_none(hint):
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return typing.Union[tuple(rest)] if len(rest) > 1 else rest[0], True
    return hint, False


def _hints():
    return typing.get_type_hints(RunOptions, localns={"Scorer": Scorer})


def test_run_options_has_one_key_per_option_of_its_kind():
    hints = _hints()
    assert list(hints) == [o.name for o in OPTIONS]
    assert RunOptions.__total__ is False and not RunOptions.__required_keys__
    for option in OPTIONS:
        hint, optional = _without_none(hints[option.name])
        expected = Literal[option.choices] if option.kind == "choice" else KINDS[option.kind]
        assert hint == expected, f"RunOptions[{option.name!r}] is {hint}, its kind {option.kind!r} wants {expected}"
        if option.default is None:
            assert optional, f"RunOptions[{option.name!r}] must allow None, its default"
        if optional:
            option.validate(None)  # None is a value the option really takes


def test_optimize_takes_run_options_and_lists_them_at_run_time():
    from gepa_jupyter import api

    hints = typing.get_type_hints(api.optimize, include_extras=True)
    assert hints["options"] == typing.Unpack[RunOptions]
    signature = gepa_jupyter.optimize.__signature__
    assert [p for p in signature.parameters if p not in ("prompt", "data")] == list(_hints())


def _protocol_members(protocol) -> set[str]:
    return {name for name in vars(protocol) if not name.startswith("_")}


def test_the_live_and_the_watched_run_are_run_views(tracking, reviews):
    from gepa_jupyter.core.runtime.run import OptimizationRun
    from gepa_jupyter.core.durability.watched_run import WatchedRun
    from gepa_jupyter.testing import SEED_PROMPT, FakeReflectionModel, FakeTaskModel
    from gepa_jupyter.views import RunView, snapshot

    members = _protocol_members(RunView)
    assert {"candidates", "status", "seed_prompts", "best_prompts", "models", "validation_size"} <= members
    run = gepa_jupyter.optimize(SEED_PROMPT, reviews, model=FakeTaskModel(), reflection_model=FakeReflectionModel(),
                                max_metric_calls=60, cache=False)
    assert run.wait(60) and run.status == "finished"
    watched = gepa_jupyter.watch(run, interval=0.2)
    try:
        assert watched.wait(60)
        for view, cls in ((run, OptimizationRun), (watched, WatchedRun)):
            assert isinstance(view, RunView), [m for m in members if not hasattr(view, m)]
            assert isinstance(view, cls)
        live, seen = snapshot(run), snapshot(watched)
        assert seen.run_id == live.run_id and seen.best_prompt == live.best_prompt
        assert list(seen.scores["candidate"]) == list(live.scores["candidate"])
    finally:
        watched.stop()
    assert not isinstance(types.SimpleNamespace(**{m: None for m in members - {"models"}}), RunView)
