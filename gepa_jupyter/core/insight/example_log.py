"""Per-example results of the validation candidates: what `run.examples` shows.

Each validation evaluation already computes, per row, the model's output, the aggregate score
and each scorer's score and rationale; `ExampleLog` keeps exactly that (the rows' inputs and
expectations once, no trace objects), so memory grows with the candidates kept, not with the
budget. `ExampleTable` is an immutable copy for views and DataFrames.
"""

import threading
from dataclasses import dataclass, field
from typing import Any

from gepa_jupyter.core.events import observer

FIXED_COLUMNS = ("candidate", "example", "row", "expected", "output", "score")


@dataclass(frozen=True)
class Example:
    """One validation row: its position in the validation set and the data row it came from."""

    position: int
    row: Any  # the DataFrame index label (or the record's position) of the data it came from
    inputs: dict
    expectations: dict

    @property
    def expected(self):
        """The expected output (`expected_response`), or the whole expectations dict."""
        if set(self.expectations) == {"expected_response"}:
            return self.expectations["expected_response"]
        return dict(self.expectations)


@dataclass(frozen=True)
class RowScore:
    """What one candidate did on one example."""

    output: Any
    score: float
    scores: dict = field(default_factory=dict)  # scorer name -> score
    rationales: dict = field(default_factory=dict)  # scorer name -> rationale (or None)


@dataclass(frozen=True)
class ExampleTable:
    """The examples and, per candidate index, its `RowScore` for each (None where unknown)."""

    examples: tuple = ()
    rows: dict = field(default_factory=dict)  # candidate index -> tuple[RowScore | None, ...]

    def of(self, candidate: int) -> tuple | None:
        return self.rows.get(candidate)

    @property
    def scorer_names(self) -> list[str]:
        return list(dict.fromkeys(n for rows in self.rows.values() for r in rows if r for n in r.scores))

    def frame(self):
        """A DataFrame, one row per (candidate, example), in candidate then validation order."""
        import pandas as pd

        variables = list(dict.fromkeys(k for e in self.examples for k in e.inputs))
        names = {v: (f"input_{v}" if v in FIXED_COLUMNS else v) for v in variables}
        scorers = self.scorer_names
        data = []
        for candidate, rows in self.rows.items():
            for example, result in zip(self.examples, rows):
                if result is None:
                    continue
                record = {"candidate": candidate, "example": example.position, "row": example.row}
                record |= {names[v]: example.inputs.get(v) for v in variables}
                record |= {"expected": example.expected, "output": result.output, "score": result.score}
                for name in scorers:
                    record[name] = result.scores.get(name)
                    record[f"{name}_rationale"] = result.rationales.get(name)
                data.append(record)
        columns = ["candidate", "example", "row", *names.values(), "expected", "output", "score"]
        columns += [c for name in scorers for c in (name, f"{name}_rationale")]
        return pd.DataFrame(data, columns=columns)


class ExampleLog:
    """Collects each validation candidate's per-row results (see the module docstring)."""

    def __init__(self, valset: list[dict] | None = None):
        self.examples = tuple(
            Example(i, record.get("row", i), dict(record.get("inputs") or {}), _expectations(record))
            for i, record in enumerate(valset or []))
        self._rows: dict[int, tuple] = {}
        self._lock = threading.Lock()

    @observer
    def add(self, candidate: int, val_ids: list[int], records: list | None, scores_by_id: dict,
            outputs_by_id: dict | None = None) -> None:
        """Keep a candidate's results: `records` (RowResults in `val_ids` order) or, when gepa
        served them from its cache, only the scores and outputs it reports."""
        rows: list[RowScore | None] = [None] * len(self.examples)
        for position, val_id in enumerate(val_ids):
            if not 0 <= val_id < len(rows):
                continue
            if records is not None:
                r = records[position]
                rows[val_id] = RowScore(r.outputs, float(r.score), dict(r.individual_scores or {}),
                                        dict(r.rationales or {}))
            else:
                rows[val_id] = RowScore((outputs_by_id or {}).get(val_id), float(scores_by_id[val_id]))
        with self._lock:
            self._rows[candidate] = tuple(rows)

    def table(self) -> ExampleTable:
        with self._lock:
            return ExampleTable(self.examples, dict(self._rows))


def _expectations(record: dict) -> dict:
    expectations = record.get("expectations")
    if isinstance(expectations, dict) and expectations:
        return dict(expectations)
    return {"expected_response": record.get("outputs")}
