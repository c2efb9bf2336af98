"""Turn a DataFrame or MLflow-style records into the records `optimize_prompts` takes.

Missing values (None, NaN, pandas NA/NaT) in a template variable or an expected output are
refused: the prompt would show them as the text 'None' or 'nan'. Empty strings are kept as
they are, since a user may mean them.
"""

import random
from typing import Any

from gepa_jupyter.core.errors import InputError
from gepa_jupyter.core.options import mention


def _is_mlflow_records(rows: list) -> bool:
    return bool(rows) and all(isinstance(r, dict) and "inputs" in r for r in rows)


def _from_mlflow_records(rows: list[dict], variables: list[str]) -> list[dict]:
    records = []
    for i, row in enumerate(rows):
        inputs = row.get("inputs")
        if not isinstance(inputs, dict) or not inputs:
            raise InputError(f"Record {i}: 'inputs' must be a non-empty dict, got {inputs!r}.")
        missing = [v for v in variables if v not in inputs]
        if missing:
            raise InputError(
                f"Record {i}: the template uses {_braces(missing)} but its 'inputs' has no "
                f"{_plural('key', missing)} {', '.join(map(repr, missing))} (keys: {sorted(inputs)})."
            )
        if isinstance(row.get("expectations"), dict) and row["expectations"]:
            expectations = dict(row["expectations"])
        elif "outputs" in row:
            expectations = {"expected_response": row["outputs"]}
        else:
            raise InputError(f"Record {i} has neither 'expectations' nor 'outputs': nothing to score against.")
        records.append({"inputs": {v: inputs[v] for v in variables}, "expectations": expectations})
    missing = _missing_values(records, range(len(records)))
    if missing:
        where = {f"{part}[{key!r}]": labels for (part, key), labels in missing.items()}
        raise InputError(f"Missing values (None/NaN) in the records: {_describe(where, 'record')}. "
                         "Drop those records or fill them in (empty strings are accepted).")
    return records


def _from_frame(frame, variables: list[str], target: str, from_list: bool = False) -> list[dict]:
    columns = [str(c) for c in frame.columns]
    missing = [v for v in variables if v not in columns]
    if missing:
        raise InputError(
            f"The template uses {_braces(missing)} but the data has no "
            f"{_plural('column', missing)} {', '.join(map(repr, missing))} (columns: {columns})."
        )
    if target not in columns:
        unused = [c for c in columns if c not in variables]
        example = mention("target", repr(unused[-1]) if unused else "'COLUMN'")
        raise InputError(
            f"The target column {target!r} is not in the data (columns: {columns}). "
            f"Name the column of expected outputs: {example}."
        )
    if target in variables:
        raise InputError(f"The target column {target!r} is also a template variable: the prompt would leak the answer.")
    used = [*variables, target]
    duplicated = [c for c in used if columns.count(c) > 1]
    if duplicated:
        raise InputError(
            f"The data has more than one column named {', '.join(map(repr, duplicated))}: pandas would keep "
            "only the last of each. Rename or drop the extra ones (e.g. data.loc[:, ~data.columns.duplicated()])."
        )
    frame = frame.set_axis(columns, axis=1)[used]
    records = [
        {"inputs": {v: row[v] for v in variables}, "expectations": {"expected_response": row[target]}}
        for row in frame.to_dict("records")
    ]
    found = {(target if part == "expectations" else key): labels
             for (part, key), labels in _missing_values(records, frame.index).items()}
    missing = {name: found[name] for name in used if name in found}
    if missing:
        where = {f"column {name!r}": labels for name, labels in missing.items()}
        unit, fix = (("record", "Drop those records") if from_list else
                     ("row", f"Drop those rows with data.dropna(subset={list(missing)!r})"))
        raise InputError(f"Missing values (None/NaN) in the data: {_describe(where, unit)}. "
                         f"{fix} or fill them in (empty strings are accepted).")
    return records


def _missing_values(records: list[dict], labels) -> dict[tuple[str, str], list]:
    """{(part, key): labels of the records whose `part` ("inputs"/"expectations") value is missing}."""
    found: dict[tuple[str, str], list] = {}
    for label, record in zip(labels, records):
        for part in ("inputs", "expectations"):
            for key, value in record[part].items():
                if _is_missing(value):
                    found.setdefault((part, key), []).append(label)
    return found


def _is_missing(value: Any) -> bool:
    """None, NaN, pandas NA or NaT; not an empty string, nor a list (whatever it holds)."""
    import pandas as pd

    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def _describe(where: dict[str, list], unit: str, shown: int = 3) -> str:
    """'column 'a' in 8 rows: rows 3, 17, 40 (and 5 more); column 'b' in 1 row: row 2'."""
    parts = []
    for name, labels in where.items():
        listed = ", ".join(_label(x) for x in labels[:shown])
        more = f" (and {len(labels) - shown} more)" if len(labels) > shown else ""
        units = _plural(unit, labels)
        parts.append(f"{name} in {len(labels)} {units}: {units} {listed}{more}")
    return "; ".join(parts)


def _label(label: Any) -> str:
    return repr(label) if isinstance(label, str) else str(label)


def prepare_records(data: Any, variables: list[str], target: str = "target") -> list[dict]:
    """Records `{"inputs": {...}, "expectations": {"expected_response": ...}}`, validated.

    `data` is a pandas DataFrame (one column per template variable plus `target`), or a
    list of MLflow-style records with `inputs` and `expectations` (or `outputs`).
    Raises InputError naming the rows/records and columns/keys of any missing value
    (None, NaN, NA, NaT; empty strings are fine) and any duplicated column the run uses.
    """
    import pandas as pd

    if not variables:
        raise InputError("The prompt template has no {{variable}}: add one, e.g. 'Classify: {{review}}'.")
    if data is None:
        raise InputError("No data given: pass a pandas DataFrame or a list of records.")
    if isinstance(data, pd.DataFrame):
        if data.empty:
            raise InputError("The data is empty: it needs at least one row.")
        if "inputs" in data.columns and not set(variables) & set(map(str, data.columns)):
            return _from_mlflow_records(data.to_dict("records"), variables)
        return _from_frame(data, variables, target)
    if isinstance(data, (list, tuple)):
        if not data:
            raise InputError("The data is empty: it needs at least one record.")
        if _is_mlflow_records(list(data)):
            return _from_mlflow_records(list(data), variables)
        if all(isinstance(r, dict) for r in data):
            return _from_frame(pd.DataFrame(list(data)), variables, target, from_list=True)
    raise InputError(f"Data must be a pandas DataFrame or a list of records, not {type(data).__name__}.")


def split_holdout(records: list[dict], fraction: float | None, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """(train, held_out): a seeded shuffle keeps `fraction` of the rows out of the optimization."""
    if not fraction:
        return list(records), []
    if not 0 < fraction < 1:
        raise InputError(f"holdout must be a fraction between 0 and 1 (exclusive), got {fraction!r}.")
    n_out = round(len(records) * fraction)
    if n_out < 1 or n_out >= len(records):
        raise InputError(
            f"holdout={fraction} of {len(records)} rows leaves an empty side: "
            "use more rows or another fraction."
        )
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    held = sorted(order[:n_out])
    held_set = set(held)
    return [r for i, r in enumerate(records) if i not in held_set], [records[i] for i in held]


def _braces(names: list[str]) -> str:
    return ", ".join("{{" + n + "}}" for n in names)


def _plural(word: str, items: list) -> str:
    return word if len(items) == 1 else word + "s"
