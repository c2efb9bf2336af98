"""What a run needs to be continued elsewhere, kept in its MLflow artifacts.

Stored when the run starts, next to its gepa state, so a run can be resumed from its id alone,
on any machine that reaches the tracking store: `gepa_jupyter/run.json` (the seed prompts by
name, the options, which training rows form the validation set) and
`gepa_jupyter/data.json` (the training and held-out records, as the run used them).

The data is stored rather than asked for again because the validation sample and the held-out
split must be exactly the same rows in the same order for gepa's saved Pareto front (scores
by validation row) to mean anything; the rows of the validation set already go to MLflow in
each candidate's `eval_results.json`. What cannot be stored is listed in `unstored` and must
be passed again to resume: Python callables (a model function, a predict_fn, a scorer object)
and gepa_kwargs values that are not JSON.

Credentials are never stored (core.runtime.redact.credentials: API keys, secret headers, extra_query
values, URLs with a password or a `?token=`). Each is replaced by a placeholder
`{"$credential": "model_kwargs['api_key']", "env": "VAR", "prefix": "Bearer "}` naming the
environment variable that held it when the run started (else one named after its place, e.g.
GEPA_JUPYTER_MODEL_KWARGS_EXTRA_HEADERS_AUTHORIZATION); `fill_credentials` puts the variable's
value back on resume, or raises an InputError naming the variable and the keyword to give again.
"""

import json
import os
import re
import tempfile
from dataclasses import dataclass, field

from gepa_jupyter.core.errors import InputError
from gepa_jupyter.core.runtime.redact import MIN_LENGTH, credentials
from gepa_jupyter.core.tracking import schema
from gepa_jupyter.core.tracking.artifacts import read_json

VERSION = 1
LOCAL_ONLY = ("cache",)  # options that describe this machine: a resume uses its own
CREDENTIAL = "$credential"  # the key of a placeholder for a credential that is not stored


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


def _place(path: tuple) -> str:
    """`model_kwargs['extra_headers']['Authorization']` for a path of keys."""
    return str(path[0]) + "".join(f"[{p!r}]" for p in path[1:])


def _placeholder(path: tuple, secret: str) -> dict:
    """Where a credential was and the environment variable that will give it back."""
    for name, value in os.environ.items():
        if len(value.strip()) >= MIN_LENGTH and secret.strip().endswith(value.strip()):
            prefix = secret.strip()[:-len(value.strip())]
            if not prefix or prefix.rstrip() != prefix and " " not in prefix.rstrip():  # "Bearer ", "Token "
                return {CREDENTIAL: _place(path), "env": name, "prefix": prefix}
    variable = "GEPA_JUPYTER_" + "_".join(re.sub(r"\W+", "_", str(p)).strip("_").upper() for p in path)
    return {CREDENTIAL: _place(path), "env": variable, "prefix": ""}


def _without_credentials(name: str, value):
    """A copy of `value` with each credential replaced by its placeholder."""
    found = credentials({name: value})
    if not found:
        return value

    def copy(item, path):
        if path in places:
            return places[path]
        if isinstance(item, dict):
            return {k: copy(v, (*path, k)) for k, v in item.items()}
        if isinstance(item, (list, tuple)):
            return [copy(v, (*path, i)) for i, v in enumerate(item)]
        return item

    places = {path: _placeholder(path, secret) for path, secret in found}
    return copy(value, (name,))


def _storable(name: str, value) -> tuple[object, str | None]:
    """(stored value, None) or (None, why it is not stored)."""
    if callable(value) and not isinstance(value, str):
        return None, f"a Python callable ({getattr(value, '__name__', type(value).__name__)})"
    if name == "scorers":
        objects = [getattr(s, "name", type(s).__name__) for s in value if not isinstance(s, str)]
        if objects:
            return None, f"scorer objects ({', '.join(map(str, objects))})"
        return list(value), None
    value = _without_credentials(name, value)
    if isinstance(value, dict):
        kept, dropped = {}, []
        for key, item in value.items():
            try:
                kept[key] = _json_value(item)
            except TypeError:
                dropped.append(key)
        return kept, f"values that are not JSON ({', '.join(dropped)})" if dropped else None
    try:
        return _json_value(value), None
    except TypeError:
        return None, f"a {type(value).__name__}"


def fill_credentials(options: dict) -> dict:
    """`options` with each credential placeholder replaced by its environment variable's value;
    an InputError naming the variable and the keyword when one is not set."""
    missing = []

    def fill(item):
        if isinstance(item, dict) and CREDENTIAL in item:
            value = os.environ.get(item.get("env") or "")
            if not value:
                missing.append(item)
                return None
            return f"{item.get('prefix') or ''}{value}"
        if isinstance(item, dict):
            return {k: fill(v) for k, v in item.items()}
        if isinstance(item, list):
            return [fill(v) for v in item]
        return item

    filled = {name: fill(value) for name, value in options.items()}
    if missing:
        what = "; ".join(f"{m[CREDENTIAL]} (set the environment variable {m['env']}"
                         + (f", sent as '{m['prefix']}${m['env']}'" if m.get("prefix") else "") + ")"
                         for m in missing)
        options_again = ", ".join(dict.fromkeys(f"{m[CREDENTIAL].split('[')[0]}=..." for m in missing))
        raise InputError(f"This run's credentials are not stored: {what}; or give them again "
                         f"(gepa_jupyter.resume(run, {options_again})).")
    return filled


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
        for name, content in ((schema.RUN_FILE, run), (schema.DATA_FILE, data)):
            with open(os.path.join(folder, name), "w") as handle:
                json.dump(content, handle)
        client.log_artifacts(run_id, folder, schema.ARTIFACT_DIR)


def load(client, run_id: str) -> Recipe | None:
    """The run's recipe, or None when it has none (not a gepa-jupyter run, or an older one)."""
    run = read_json(client, run_id, schema.stored(schema.RUN_FILE))
    if run is None:
        return None
    data = read_json(client, run_id, schema.stored(schema.DATA_FILE)) or {}
    if "seed_prompts" not in run:  # written before several prompts: one template and its name
        run["seed_prompts"] = {run["prompt_name"]: run["seed_template"]}
        run["seed_prompt_uris"] = {run["prompt_name"]: run["seed_prompt_uri"]} if run.get("seed_prompt_uri") else {}
    return Recipe(seed_prompts=run["seed_prompts"], seed_prompt_uris=run.get("seed_prompt_uris") or {},
                  options=run.get("options", {}),
                  unstored=run.get("unstored", {}), validation_indices=list(run.get("validation_indices", [])),
                  train=data.get("train", []), holdout=data.get("holdout", []))
