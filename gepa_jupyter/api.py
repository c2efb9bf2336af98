"""`gepa_jupyter.optimize(prompt, data, **options)`: the Python entry point the magic and the panel wrap.

Its options, their defaults, help and checks come from `gepa_jupyter.core.options.OPTIONS`.
`prepare(...)` checks every input and resolves models and scorers (an `InputError` before
anything starts); `start(spec)` starts the run in the background and returns it at once.
"""

import inspect
from typing import Any, Callable

from gepa_jupyter.core.errors import InputError
from gepa_jupyter.core.options import OPTIONS, validate_options
from gepa_jupyter.core.run import OptimizationRun, RunSpec, start_run


def optimize(prompt: str, data: Any, **options: Any) -> OptimizationRun:
    from gepa_jupyter.durable import warn_notices

    spec = prepare(prompt, data, **options)
    warn_notices(spec.notices)  # e.g. an earlier run whose process died, now FAILED and resumable
    return start(spec)


def prepare(prompt: str, data: Any, *, progress: Callable[[str], None] | None = None, **options: Any) -> RunSpec:
    """Check the inputs and resolve models and scorers into a RunSpec; nothing is started.

    `progress(text)` hears what is being checked (the first use of mlflow and litellm in a
    process imports them, which takes seconds).
    """
    from gepa_jupyter.core.budget import check_budget, sample_validation
    from gepa_jupyter.core.data import prepare_records, split_holdout
    from gepa_jupyter.core.sampling import BudgetedSampling, proposals_per_iteration
    from gepa_jupyter.core.templates import template_variables

    say = progress or (lambda text: None)
    values = validate_options(options)
    if values["predict_fn"] is not None and "model" in options and options["model"] is not None:
        raise InputError("Give either model or predict_fn, not both.")
    seed_uri, name, template = _seed(prompt, values["prompt_name"] if options.get("prompt_name") else None, say)
    records = prepare_records(data, template_variables(template), values["target"])
    train, held = split_holdout(records, values["holdout"], values["random_seed"])
    gepa_kwargs = dict(values["gepa_kwargs"] or {})
    minibatch = gepa_kwargs.get("reflection_minibatch_size") or 3
    size = check_budget(len(train), values["max_metric_calls"], values["val_size"], minibatch)
    validation = sample_validation(train, size, values["random_seed"])
    proposals = proposals_per_iteration(values["proposals"], values["workers"], len(train), minibatch)
    if proposals > 1 and "sampling_strategy" not in gepa_kwargs:
        gepa_kwargs["sampling_strategy"] = BudgetedSampling(proposals, values["max_metric_calls"], minibatch)
    say("checking the scorers (importing mlflow)")
    from gepa_jupyter.core.guards import import_litellm

    import_litellm()  # offline; mlflow's scorers and gepa import it too
    scorers = _scorers(values["scorers"], train[0])
    say("checking the models (importing litellm)")
    program, reflection, params, session = _models(values, name)
    if not {"reflection_prompt_template", "reflection_strategy"} & set(gepa_kwargs) and reflection.reflector == "small":
        from gepa_jupyter.core.small_reflector import SmallModelReflector

        gepa_kwargs["reflection_strategy"] = SmallModelReflector(reflection)
    say("looking for runs of the experiment whose process died")
    from gepa_jupyter.durable import dead_run_notices

    notices = dead_run_notices(values["experiment"])
    return RunSpec(
        seed_template=template, prompt_name=name, program=program, train_records=train,
        validation_records=validation, holdout_records=held, scorers=scorers, reflection_model=reflection,
        options=values, seed_prompt_uri=seed_uri, gepa_kwargs=gepa_kwargs, params=params,
        read_usage=session.usage, on_close=session.close, notices=notices,
    )


def start(spec: RunSpec) -> OptimizationRun:
    """Start a prepared run in the background; returns at once."""
    return start_run(spec)


def _scorers(names_or_scorers, sample: dict) -> list:
    from gepa_jupyter.core import scorers as scoring

    resolved = scoring.resolve_scorers(names_or_scorers)
    scoring.check_scorers(resolved, sample)
    return resolved


def _models(values: dict, prompt_name: str):
    """(program, reflection model, params for MLflow, model session) of the options."""
    from gepa_jupyter import models
    from gepa_jupyter.core.programs import PredictFnProgram, TemplateProgram

    session = models.ModelSession(cache=values["cache"])
    model_kwargs = values["model_kwargs"] or {}
    params = {}
    if values["predict_fn"] is not None:
        program = PredictFnProgram(values["predict_fn"], [prompt_name])
    else:
        task = session.model(values["model"] or DEFAULT_MODEL, role="task", **model_kwargs)
        program = TemplateProgram(prompt_name, task)
        params["model"] = task.describe()
    reflection_kwargs = values["reflection_kwargs"]
    if reflection_kwargs is None:
        reflection_kwargs = model_kwargs if values["reflection_model"] is None else {}
    reflection = session.model(values["reflection_model"] or values["model"] or DEFAULT_MODEL,
                               role="reflection", **reflection_kwargs)
    params["reflection_model"] = reflection.describe()
    return program, reflection, params, session


def _seed(prompt: Any, prompt_name: str | None, say) -> tuple[str | None, str, str]:
    """(existing prompt URI or None, prompt name, template) from a template or a prompts:/ URI."""
    if not isinstance(prompt, str):
        raise InputError(f"The prompt must be a template string or a prompts:/name/N URI, not {type(prompt).__name__}.")
    if not prompt.strip():
        raise InputError("The prompt is empty: write the seed prompt with {{variables}}, e.g. 'Classify: {{review}}'.")
    if not is_prompt_uri(prompt):
        return None, prompt_name or DEFAULT_PROMPT_NAME, prompt
    say("loading the seed prompt from the registry")
    version = load_registered_prompt(prompt.strip())
    if prompt_name and prompt_name != version.name:
        raise InputError(f"prompt_name {prompt_name!r} differs from the name in {prompt.strip()!r}.")
    return prompt.strip(), version.name, version.template


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
        "prompt: the seed template with `{{variable}}` placeholders, or a `prompts:/name/N` URI.",
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
optimize.__signature__ = _signature()
optimize.__doc__ = _docstring()
