"""Built-in scorers by name (`exact_match`, `contains`, `f1`) and scorer resolution."""

import re
from typing import Any

from gepa_jupyter.core.errors import InputError


def _expected(expectations: dict) -> str:
    value = expectations.get("expected_response", next(iter(expectations.values()), ""))
    return str(value)


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
