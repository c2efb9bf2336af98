"""Built-in scorers by name (`exact_match`, `contains`, `f1`), scorer resolution and a dry run."""

import inspect
import re
from typing import Any

from gepa_jupyter.core.errors import InputError


def expected_value(expectations: dict) -> Any:
    """The expected answer of a record: `expected_response`, else its first expectation."""
    return expectations.get("expected_response", next(iter(expectations.values()), ""))


def _expected(expectations: dict) -> str:
    return str(expected_value(expectations))


def _normalize(text: Any) -> str:
    return " ".join(str(text).strip().lower().split()).strip(" .!?\"'")


def exact_match_score(outputs: Any, expectations: dict) -> float:
    """1.0 when the output equals the expected response, ignoring case, spacing and end punctuation."""
    return float(_normalize(outputs) == _normalize(_expected(expectations)))


def contains_score(outputs: Any, expectations: dict) -> float:
    """1.0 when the expected response appears in the output (case-insensitive)."""
    return float(_normalize(_expected(expectations)) in _normalize(outputs))


def _tokens(text: Any) -> list[str]:
    return re.findall(r"\w+", str(text).lower())


def f1_score(outputs: Any, expectations: dict) -> float:
    """Token-overlap F1 between the output and the expected response (SQuAD style)."""
    predicted, gold = _tokens(outputs), _tokens(_expected(expectations))
    if not predicted or not gold:
        return float(predicted == gold)
    remaining = list(gold)
    common = 0
    for token in predicted:
        if token in remaining:
            remaining.remove(token)
            common += 1
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)


BUILTIN = {"exact_match": exact_match_score, "contains": contains_score, "f1": f1_score}


def builtin_scorer(name: str):
    """The MLflow scorer object for a built-in name."""
    from mlflow.genai.scorers import scorer

    fn = BUILTIN[name]

    def run(outputs, expectations):
        return fn(outputs, expectations)

    run.__doc__ = fn.__doc__
    return scorer(run, name=name)


def resolve_scorers(scorers: Any) -> list:
    """MLflow scorer objects from names and/or scorer objects; defaults to `exact_match`."""
    from mlflow.genai.scorers import Scorer

    if scorers is None:
        scorers = ["exact_match"]
    if isinstance(scorers, (str, Scorer)):
        scorers = [scorers]
    resolved = []
    for item in scorers:
        if isinstance(item, str):
            if item not in BUILTIN:
                raise InputError(
                    f"Unknown scorer {item!r}. Built-in scorers: {', '.join(sorted(BUILTIN))}; "
                    "or pass an MLflow scorer object (mlflow.genai.scorers)."
                )
            resolved.append(builtin_scorer(item))
        elif isinstance(item, Scorer):
            resolved.append(item)
        else:
            raise InputError(
                f"A scorer must be a built-in name or an MLflow Scorer, not {type(item).__name__}: "
                "decorate a function with @mlflow.genai.scorers.scorer."
            )
    if not resolved:
        raise InputError("No scorers given: name at least one (e.g. 'exact_match').")
    names = [s.name for s in resolved]
    if len(set(names)) != len(names):
        raise InputError(f"Scorer names must be unique, got {names}.")
    return resolved


ALLOWED = ("a number (float, int or bool), the string 'yes' or 'no' (CategoricalRating), "
           "or an mlflow Feedback whose value is one of those")


def check_scorers(scorers: list, record: dict) -> None:
    """Dry-run each scorer on `record`, as mlflow's optimization metric calls it, before any model call.

    `outputs` is the record's expected answer (a plausible reply), `trace` is None. Raises
    InputError naming each scorer that raises or returns what mlflow cannot aggregate (see
    `ALLOWED`). Scorers that may call a model are skipped: mlflow's LLM judges (Judge,
    BuiltInScorer such as Correctness, make_judge) and scorers of its third-party integrations
    (ragas, deepeval, phoenix, ...). An error from a scorer that reads `trace` is not counted,
    since the real run passes one. A scorer that calls a model itself would be run.
    """
    outputs = expected_value(record["expectations"])
    problems = []
    for scorer in scorers:
        if may_call_a_model(scorer):
            continue
        try:
            value = scorer.run(inputs=record["inputs"], outputs=outputs,
                               expectations=record["expectations"], trace=None)
        except Exception as e:
            if "trace" not in inspect.signature(scorer.__call__).parameters:
                problems.append(f"scorer {scorer.name!r} raised {type(e).__name__}: {_short(e, 160)}")
            continue
        if not _aggregatable(value):
            problems.append(f"scorer {scorer.name!r} returned {_returned(value)}")
    if problems:
        raise InputError(
            f"Scorer check on one record (inputs={_short(record['inputs'])}, outputs={_short(outputs)}, "
            f"its expected answer): {'; '.join(problems)}. Fix the scorer: it must return {ALLOWED}, "
            "e.g. 1.0 when the output is right and 0.0 when it is wrong."
        )


def check_judges(scorers: list, record: dict, outputs: Any) -> None:
    """Run each scorer that calls a model (an MLflow judge) once on `record` with the seed's
    `outputs`, before the seed is scored: a RuntimeError naming each judge that cannot answer."""
    problems = []
    for scorer in scorers:
        if not may_call_a_model(scorer):
            continue
        try:
            value = scorer.run(inputs=record["inputs"], outputs=outputs,
                               expectations=record.get("expectations") or {}, trace=None)
        except Exception as e:
            problems.append(f"judge {scorer.name!r} failed: {type(e).__name__}: {_short(e, 300)}")
            continue
        if not _aggregatable(value):
            problems.append(f"judge {scorer.name!r} returned {_returned(value)}")
    if problems:
        raise RuntimeError(f"The judges were tried on the first row before scoring the seed: {'; '.join(problems)}. "
                           "Check the judge's model (its server, name and key) and try again.")


def may_call_a_model(scorer) -> bool:
    from mlflow.genai.judges import Judge

    from gepa_jupyter.core.upstream import is_decorated_scorer

    module = type(scorer).__module__
    return isinstance(scorer, Judge) or (module.startswith("mlflow.") and not is_decorated_scorer(scorer))


def _aggregatable(value: Any) -> bool:
    """What `create_metric_from_scorers` (mlflow.genai.optimize.util) can turn into a number."""
    from mlflow.entities import Feedback

    if isinstance(value, Feedback):
        value = value.value
    return isinstance(value, (int, float, bool)) or (isinstance(value, str) and value in ("yes", "no"))


def _returned(value: Any) -> str:
    from mlflow.entities import Feedback

    if isinstance(value, Feedback):
        error = f", error={_short(value.error.error_message)}" if value.error else ""
        return f"a Feedback with value {type(value.value).__name__} {_short(value.value)}{error}"
    return f"{type(value).__name__} {_short(value)}"


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value) if not isinstance(value, BaseException) else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
