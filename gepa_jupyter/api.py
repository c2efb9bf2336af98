"""`gepa_jupyter.optimize(prompt, data, **options)`: the Python entry point the magic and the panel wrap.

Its options, their defaults, help and checks come from `gepa_jupyter.core.options.OPTIONS`.
`prepare(...)` checks every input and resolves models and scorers (an `InputError` before
anything starts); `start(spec)` starts the run in the background and returns it at once.
"""

import inspect
from typing import Any, Callable, Unpack

from gepa_jupyter.core.errors import InputError
from gepa_jupyter.core.options import OPTIONS, RunOptions, mention, validate_options
from gepa_jupyter.core.runtime.run import OptimizationRun, RunSpec, start_run


# A seed template or prompts:/ URI; several prompts: {name: template or URI}, or a list of URIs.
Prompt = str | dict[str, str] | list[str] | tuple[str, ...]


def optimize(prompt: Prompt, data: Any, **options: Unpack[RunOptions]) -> OptimizationRun:
    from gepa_jupyter.core.durability.notices import warn_notices

    spec = prepare(prompt, data, **options)
    warn_notices(spec.notices)  # e.g. an earlier run whose process died, now FAILED and resumable
    return start(spec)


def prepare(prompt: Prompt, data: Any, *, progress: Callable[[str], None] | None = None, **options: Any) -> RunSpec:
    """Check the inputs and resolve models and scorers into a RunSpec; nothing is started.

    `progress(text)` hears what is being checked (the first use of mlflow and litellm in a
    process imports them, which takes seconds).
    """
    from gepa_jupyter.core.inputs.budget import check_budget, sample_validation
    from gepa_jupyter.core.inputs.prompts import check_chain, check_length, check_variables
    from gepa_jupyter.core.inputs.records import prepare_records, split_holdout
    from gepa_jupyter.core.optimization.sampling import BudgetedSampling, proposals_per_iteration
    say = progress or (lambda text: None)
    values = validate_options(options)
    from gepa_jupyter.core.runtime import preload

    if preload.running():  # %load_ext started importing them: no second thread imports the same modules
        say("importing litellm and mlflow")
        preload.wait()
    from gepa_jupyter.core.runtime.redact import register_credentials

    register_credentials(values)  # every key, header, query value and URL password: redacted if echoed
    if values["predict_fn"] is not None and "model" in options and options["model"] is not None:
        raise InputError("Give either model or predict_fn, not both.")
    prompts = read_prompts(prompt, values["prompt_name"] if options.get("prompt_name") else None, say)
    check_length(prompts)
    check_variables(prompts)
    if not prompts.single and values["predict_fn"] is None:
        check_chain(prompts)
    records = prepare_records(data, prompts.data_variables(), values["target"])
    _label_rows(records, data)
    train, held = split_holdout(records, values["holdout"], values["random_seed"])
    gepa_kwargs = dict(values["gepa_kwargs"] or {})
    minibatch = gepa_kwargs.get("reflection_minibatch_size") or 3
    size = check_budget(len(train), values["max_metric_calls"], values["val_size"], minibatch)
    validation = sample_validation(train, size, values["random_seed"])
    proposals = proposals_per_iteration(values["proposals"], values["workers"], len(train), minibatch)
    if proposals > 1 and "sampling_strategy" not in gepa_kwargs:
        gepa_kwargs["sampling_strategy"] = BudgetedSampling(proposals, values["max_metric_calls"], minibatch)
    say("checking the scorers (importing mlflow)")
    from gepa_jupyter.core.runtime.guards import import_litellm

    import_litellm()  # offline; mlflow's scorers and gepa import it too
    scorers = _scorers(values["scorers"], train[0])
    say("checking the models (importing litellm)")
    program, reflection, params, session = _models(values, prompts)
    from gepa_jupyter.models.judges import JudgeRoutes

    judges = JudgeRoutes(session)
    scorers = judges.route(scorers)  # MLflow judges call their model through the session (role "judge")
    if judges.models:
        params["judge_models"] = ", ".join(judges.models)
    own_reflection = {"reflection_prompt_template", "reflection_strategy", "custom_candidate_proposer"}
    if not own_reflection & set(gepa_kwargs) and reflection.reflector == "small":
        from gepa_jupyter.core.optimization.small_reflector import SmallModelReflector

        gepa_kwargs["reflection_strategy"] = SmallModelReflector(reflection)
    notices = []
    if _store_exists():  # a new sqlite file holds no unfinished run: the run creates it, while the seed is scored
        say("checking for unfinished runs")
        from gepa_jupyter.core.durability.notices import dead_run_notices

        notices = dead_run_notices(values["experiment"])
    return RunSpec(
        seed_prompts=prompts.templates, program=program, train_records=train,
        validation_records=validation, holdout_records=held, scorers=scorers, reflection_model=reflection,
        options=values, seed_prompt_uris=prompts.uris, gepa_kwargs=gepa_kwargs, params=params,
        read_usage=session.usage, on_open=judges.install, on_close=judges.closing(session.close), notices=notices,
    )


def _store_exists() -> bool:
    """Whether the tracking store already exists (a sqlite file may not yet: mlflow creates it)."""
    import os

    import mlflow

    from gepa_jupyter.core.tracking.stores import sqlite_path

    path = sqlite_path(mlflow.get_tracking_uri())
    return path is None or os.path.exists(path)


def _label_rows(records: list[dict], data: Any) -> None:
    """Each record notes the data row it came from (the DataFrame's index label), for the views."""
    import pandas as pd

    labels = list(data.index) if isinstance(data, pd.DataFrame) else range(len(records))
    for label, record in zip(labels, records):
        record["row"] = label.item() if hasattr(label, "item") else label


def start(spec: RunSpec) -> OptimizationRun:
    """Start a prepared run in the background; returns at once."""
    return start_run(spec)


def _scorers(names_or_scorers, sample: dict) -> list:
    from gepa_jupyter.core.inputs import scorers as scoring

    resolved = scoring.resolve_scorers(names_or_scorers)
    scoring.check_scorers(resolved, sample)
    return resolved


def _models(values: dict, prompts):
    """(program, reflection model, params for MLflow, model session) of the options."""
    from gepa_jupyter import models
    from gepa_jupyter.core.evaluation.programs import ChainProgram, PredictFnProgram, TemplateProgram

    session = models.ModelSession(cache=values["cache"])
    model_kwargs = values["model_kwargs"] or {}
    params = {}
    program: PredictFnProgram | TemplateProgram | ChainProgram
    if values["predict_fn"] is not None:
        program = PredictFnProgram(values["predict_fn"], prompts.names)
    else:
        task = session.model(values["model"] or DEFAULT_MODEL, role="task", **model_kwargs)
        program = TemplateProgram(prompts.names[0], task) if prompts.single else ChainProgram(prompts.names, task)
        params["model"] = task.describe()
    reflection_kwargs = values["reflection_kwargs"]
    if reflection_kwargs is None:
        reflection_kwargs = model_kwargs if values["reflection_model"] is None else {}
    try:
        reflection = session.model(values["reflection_model"] or values["model"] or DEFAULT_MODEL,
                                   role="reflection", **reflection_kwargs)
    except InputError:
        _own_server_hint(values, reflection_kwargs, program)
        raise
    params["reflection_model"] = reflection.describe()
    return program, reflection, params, session


def _own_server_hint(values: dict, reflection_kwargs: dict, program) -> None:
    """A reflection model that cannot run without a server or key while the task model has a server
    of the user's: the fix is its own kwargs (the task model's dict reuses that server), never a key
    that would send the reflection to the provider's public host."""
    task = getattr(program, "model", None)
    endpoint = getattr(task, "endpoint", None)
    if (endpoint is None or endpoint.source != "api_base" or not isinstance(values["reflection_model"], str)
            or reflection_kwargs.get("api_base") or reflection_kwargs.get("base_url")):
        return
    raise InputError(
        f"The reflection model {values['reflection_model']} has no server of its own, while the task model's "
        f"calls go to {endpoint.url} ({mention('model_kwargs')}). To reflect with your server too, give it the "
        f"same kwargs: {mention('reflection_kwargs', '@model_kwargs')} (or a dict with that server's api_base)."
    ) from None


def read_prompts(prompt: Any, prompt_name: str | None = None, say=lambda text: None):
    """The PromptSet of `prompt`: a template, `### name` sections, a dict, a URI or a list of URIs
    (registered versions are loaded; InputError for anything else)."""
    from gepa_jupyter.core.inputs.names import check_prompt_name
    from gepa_jupyter.core.inputs.prompts import PromptSet, split_sections

    if isinstance(prompt, str):
        if not prompt.strip():
            raise InputError("The prompt is empty: write the seed prompt with {{variables}}, "
                             "e.g. 'Classify: {{review}}'.")
        sections = split_sections(prompt)
        if sections is None:
            if is_prompt_uri(prompt):
                return _registered([prompt.strip()], prompt_name, say)
            return PromptSet({prompt_name or DEFAULT_PROMPT_NAME: prompt})
        prompt = sections
    if isinstance(prompt, (list, tuple)):
        if not prompt or not all(is_prompt_uri(p) for p in prompt):
            raise InputError("A list of prompts must hold prompts:/name/N URIs; for templates, pass a dict "
                             "{name: template}.")
        return _registered([p.strip() for p in prompt], prompt_name, say)
    if not isinstance(prompt, dict) or not prompt:
        raise InputError("The prompt must be a template string, a prompts:/name/N URI, a dict {name: template} "
                         f"or a list of URIs, not {type(prompt).__name__}.")
    if prompt_name:
        raise InputError("prompt_name names a single prompt; with several, their names are the dict's keys.")
    templates, uris = {}, {}
    for name, text in prompt.items():
        if not isinstance(name, str) or not isinstance(text, str) or not text.strip():
            raise InputError(f"Prompt {name!r}: each entry must be a name and a non-empty template (or URI).")
        check_prompt_name(name)
        if is_prompt_uri(text):
            version = _load(text.strip(), say)
            if version.name != name:
                raise InputError(f"Prompt {name!r} is given as {text.strip()!r}, a version of {version.name!r}: "
                                 "the key must be the registered name.")
            templates[name], uris[name] = version.template, text.strip()
        else:
            templates[name] = text
    return PromptSet(templates, uris)


def _registered(uris: list[str], prompt_name: str | None, say):
    from gepa_jupyter.core.inputs.prompts import PromptSet

    templates, given = {}, {}
    for uri in uris:
        version = _load(uri, say)
        if version.name in templates:
            raise InputError(f"Two of the prompts are versions of {version.name!r}: each prompt is optimized once.")
        templates[version.name], given[version.name] = version.template, uri
    if prompt_name and (len(templates) != 1 or prompt_name not in templates):
        raise InputError(f"prompt_name {prompt_name!r} differs from the name in {uris[0]!r}.")
    return PromptSet(templates, given)


def _load(uri: str, say):
    say("loading the seed prompt from the registry")
    return load_registered_prompt(uri)


def is_prompt_uri(text: Any) -> bool:
    """A `prompts:/name/N` or `prompts:/name@alias` reference to the prompt registry."""
    return isinstance(text, str) and text.strip().startswith("prompts:/")


def load_registered_prompt(uri: str):
    """The registered text prompt at `uri`; InputError if it cannot be loaded or is a chat prompt."""
    import mlflow

    try:
        version = mlflow.genai.load_prompt(uri)
    except Exception as e:
        raise InputError(f"Could not load the prompt {uri!r} from the registry: {e}") from e
    if not version.is_text_prompt:
        raise InputError(f"{uri} is a chat prompt; only text prompts are supported.")
    return version


def _signature() -> inspect.Signature:
    kinds = inspect.Parameter
    return inspect.Signature(
        [kinds("prompt", kinds.POSITIONAL_OR_KEYWORD), kinds("data", kinds.POSITIONAL_OR_KEYWORD)]
        + [kinds(o.name, kinds.KEYWORD_ONLY, default=o.default) for o in OPTIONS],
        return_annotation=OptimizationRun,
    )


def _docstring() -> str:
    lines = [
        "Start optimizing `prompt` on `data` in the background and return the run at once.",
        "",
        "prompt: the seed template with `{{variable}}` placeholders, or a `prompts:/name/N` URI; several",
        "    prompts: a dict {name: template or URI}, a list of URIs, or `### name` sections (core.inputs.prompts).",
        "data: a DataFrame with a column per variable plus the target column, or MLflow-style",
        "    records `{'inputs': {...}, 'expectations': {...}}`.",
        "Bad input raises gepa_jupyter.InputError before any model is called.",
        "",
        "Options (gepa_jupyter.core.options):",
    ]
    lines += [f"{o.name} (default {o.default!r}): {o.help}" for o in OPTIONS]
    return "\n".join(lines)


DEFAULT_PROMPT_NAME = next(o.default for o in OPTIONS if o.name == "prompt_name")
DEFAULT_MODEL = next(o.default for o in OPTIONS if o.name == "model")
optimize.__signature__ = _signature()  # type: ignore[attr-defined]  # help() and `?` list every option
optimize.__doc__ = _docstring()
