"""What a run needs to be continued elsewhere, kept in its MLflow artifacts.

Stored when the run starts, next to its gepa state, so a run can be resumed from its id alone,
on any machine that reaches the tracking store: `gepa_jupyter/run.json` (the seed prompts by
name, the options, which training rows form the validation set) and
`gepa_jupyter/data.json` (the training and held-out records, as the run used them).

The data is stored rather than asked for again because the validation sample and the held-out
split must be exactly the same rows in the same order for gepa's saved Pareto front (scores
by validation row) to mean anything; the rows of the validation set already go to MLflow in
each candidate's `eval_results.json`. What cannot be stored is listed in `unstored` and must
be passed again to resume: Python callables (a model function, a predict_fn, a scorer object),
API keys (never stored; `api_key_env` names are), and gepa_kwargs values that are not JSON.
"""

import json
import os
import re
import tempfile
from dataclasses import dataclass, field

from gepa_jupyter.core.artifacts import read_json
from gepa_jupyter.core.redact import SECRET_NAME, redact

ARTIFACT_DIR = "gepa_jupyter"
RUN_FILE = "run.json"
DATA_FILE = "data.json"
VERSION = 1
LOCAL_ONLY = ("cache",)  # options that describe this machine: a resume uses its own


@dataclass
class Recipe:
    seed_prompts: dict  # name -> seed template, in program order
    seed_prompt_uris: dict  # name -> prompts:/name/N of the seed
    options: dict  # the stored options (JSON values)
    unstored: dict  # option -> what it was, for those a resume must be given again
    validation_indices: list[int]
    train: list[dict] = field(default_factory=list)
    holdout: list[dict] = field(default_factory=list)

    @property
    def prompt_name(self) -> str:
        return next(iter(self.seed_prompts))


def _json_value(value):
    """A JSON-safe copy of a record value (numpy scalars become Python ones); TypeError otherwise."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    item = getattr(value, "item", None)
    if callable(item):
        return _json_value(item())
    isoformat = getattr(value, "isoformat", None)
    if callable(isoformat):
        return isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _holds_secret(value) -> bool:
    """A known secret (core.redact), or a URL with a user:password@ part."""
    if not isinstance(value, str):
        return False
    return redact(value) != value or bool(re.search(r"://[^/@\s]+:[^/@\s]*@", value))


def _storable(name: str, value) -> tuple[object, str | None]:
    """(stored value, None) or (None, why it is not stored)."""
    if callable(value) and not isinstance(value, str):
        return None, f"a Python callable ({getattr(value, '__name__', type(value).__name__)})"
    if name == "scorers":
        objects = [getattr(s, "name", type(s).__name__) for s in value if not isinstance(s, str)]
        if objects:
            return None, f"scorer objects ({', '.join(map(str, objects))})"
        return list(value), None
    if isinstance(value, dict):
        kept, secrets, dropped = {}, [], []
        for key, item in value.items():
            if key == "api_key" or (key != "api_key_env" and SECRET_NAME.search(key)) or _holds_secret(item):
                secrets.append(key)  # never stored
                continue
            try:
                kept[key] = _json_value(item)
            except TypeError:
                dropped.append(key)
        whys = ([f"a secret ({', '.join(secrets)}; use api_key_env to name a variable instead)"] if secrets else [])
        whys += [f"values that are not JSON ({', '.join(dropped)})"] if dropped else []
        return kept, " and ".join(whys) or None
    try:
        return _json_value(value), None
    except TypeError:
        return None, f"a {type(value).__name__}"


def build(spec) -> tuple[dict, dict]:
    """(run.json, data.json) contents for a RunSpec."""
    options, unstored = {}, {}
    for name, value in spec.options.items():
        if name in LOCAL_ONLY:
            continue
        stored, why = _storable(name, value)
        options[name] = stored
        if why:
            unstored[name] = why
    positions = {id(record): i for i, record in enumerate(spec.train_records)}
    data = {"train": [_json_value(r) for r in spec.train_records],
            "holdout": [_json_value(r) for r in spec.holdout_records]}
    run = {"version": VERSION, "seed_prompts": dict(spec.seed_prompts), "seed_prompt_uris": dict(spec.seed_prompt_uris),
           "options": options, "unstored": unstored,
           "validation_indices": [positions[id(r)] for r in spec.validation_records]}
    return run, data


def save(client, run_id: str, spec) -> None:
    """Write run.json and data.json to the run's artifacts."""
    run, data = build(spec)
    with tempfile.TemporaryDirectory(prefix="gepa-jupyter-recipe-") as folder:
        for name, content in ((RUN_FILE, run), (DATA_FILE, data)):
            with open(os.path.join(folder, name), "w") as handle:
                json.dump(content, handle)
        client.log_artifacts(run_id, folder, ARTIFACT_DIR)


def load(client, run_id: str) -> Recipe | None:
    """The run's recipe, or None when it has none (not a gepa-jupyter run, or an older one)."""
    run = read_json(client, run_id, f"{ARTIFACT_DIR}/{RUN_FILE}")
    if run is None:
        return None
    data = read_json(client, run_id, f"{ARTIFACT_DIR}/{DATA_FILE}") or {}
    if "seed_prompts" not in run:  # written before several prompts: one template and its name
        run["seed_prompts"] = {run["prompt_name"]: run["seed_template"]}
        run["seed_prompt_uris"] = {run["prompt_name"]: run["seed_prompt_uri"]} if run.get("seed_prompt_uri") else {}
    return Recipe(seed_prompts=run["seed_prompts"], seed_prompt_uris=run.get("seed_prompt_uris") or {},
                  options=run.get("options", {}),
                  unstored=run.get("unstored", {}), validation_indices=list(run.get("validation_indices", [])),
                  train=data.get("train", []), holdout=data.get("holdout", []))
