"""`gepa_jupyter.optimize(...)`: the one Python entry point the magic and the panel wrap."""

from typing import Any, Callable

from gepa_jupyter.core.data import prepare_records, split_holdout
from gepa_jupyter.core.errors import InputError
from gepa_jupyter.core.run import OptimizationRun, RunSpec, start_run
from gepa_jupyter.core.scorers import resolve_scorers
from gepa_jupyter.core.templates import template_variables

DEFAULT_MODEL = "local:/smollm2"
DEFAULT_PROMPT_NAME = "gepa-prompt"


def optimize(
    prompt: str,
    data: Any,
    *,
    target: str = "target",
    model: str | Callable[[str], str] | None = None,
    predict_fn: Callable[..., Any] | None = None,
    reflection_model: str | Callable[[str], str] | None = None,
    scorers: Any = ("exact_match",),
    max_metric_calls: int = 100,
    holdout: float | None = None,
    prompt_name: str | None = None,
    experiment: str | None = None,
    model_kwargs: dict | None = None,
    reflection_kwargs: dict | None = None,
    cache: bool | str | None = None,
    seed: int = 0,
    gepa_kwargs: dict | None = None,
) -> OptimizationRun:
    """Start optimizing `prompt` on `data` in the background and return the run at once.

    prompt: the seed template with `{{variable}}` placeholders, or a `prompts:/name/N` URI.
    data: a DataFrame with a column per variable plus `target` (expected outputs), or
        MLflow-style records `{"inputs": {...}, "expectations": {...}}`.
    model: task model URI (`openai:/gpt-4o-mini`, `local:/smollm2`, ...) or a callable
        `(filled prompt) -> answer`; or give `predict_fn` (mlflow's contract: called with the
        variables as keyword arguments, formats a PromptVersion of `prompt_name`).
    reflection_model: model URI or callable `(reflection prompt) -> text`; defaults to `model`.
    scorers: built-in names (`exact_match`, `contains`, `f1`) and/or MLflow scorer objects.
    max_metric_calls: evaluation budget (one call = one row scored).
    holdout: fraction of rows kept out of the optimization; the seed and the best prompt are
        both scored on them at the end (`run.holdout_scores`).
    model_kwargs / reflection_kwargs: extra litellm arguments (`api_base`, `temperature`, ...).
    cache: response cache for deterministic calls: True (default location), False, or a path.
    """
    seed_uri, prompt_name, template = _seed(prompt, prompt_name)
    variables = template_variables(template)
    records = prepare_records(data, variables, target)
    scorer_objects = resolve_scorers(scorers)
    if isinstance(max_metric_calls, bool) or not isinstance(max_metric_calls, int) or max_metric_calls <= 0:
        raise InputError(f"max_metric_calls must be a positive whole number, got {max_metric_calls!r}.")
    train, held = split_holdout(records, holdout, seed)
    if predict_fn is not None and model is not None:
        raise InputError("Give either model or predict_fn, not both.")
    if predict_fn is not None and not callable(predict_fn):
        raise InputError(f"predict_fn must be callable, got {type(predict_fn).__name__}.")

    from gepa_jupyter import models

    session = models.ModelSession(cache=cache)
    params = {}
    if predict_fn is None:
        task = session.model(model or DEFAULT_MODEL, role="task", **(model_kwargs or {}))
        predict_fn = make_predict_fn(prompt_name, template, task)
        params["model"] = task.describe()
    reflection = session.model(reflection_model or model or DEFAULT_MODEL, role="reflection",
                               **(reflection_kwargs if reflection_kwargs is not None else
                                  (model_kwargs if reflection_model is None else None) or {}))
    params["reflection_model"] = reflection.describe()
    spec = RunSpec(
        seed_template=template,
        prompt_name=prompt_name,
        predict_fn=predict_fn,
        train=train,
        holdout=held,
        scorers=scorer_objects,
        reflection_model=reflection,
        max_metric_calls=max_metric_calls,
        experiment=experiment,
        seed_prompt_uri=seed_uri,
        gepa_kwargs={"seed": seed, **({} if {"reflection_prompt_template", "reflection_strategy"} & set(gepa_kwargs or {})
                                      else reflection.gepa_kwargs()), **(gepa_kwargs or {})},
        params=params,
        usage=session.usage,
        on_close=session.close,
    )
    return start_run(spec)


def make_predict_fn(prompt_name: str, template: str, model: Callable[[str], str]):
    """predict_fn for a task model: fill the (patched) prompt, ask the model, return its text.

    It formats a PromptVersion of `prompt_name`, whose `template` mlflow swaps for each
    candidate during evaluation.
    """
    from mlflow.entities.model_registry import PromptVersion

    prompt = PromptVersion(name=prompt_name, version=1, template=template)

    def predict_fn(**inputs):
        return model(prompt.format(**inputs))

    return predict_fn


def _seed(prompt: Any, prompt_name: str | None) -> tuple[str | None, str, str]:
    """(existing prompt URI or None, prompt name, template) from a template or a prompts:/ URI."""
    if not isinstance(prompt, str):
        raise InputError(f"The prompt must be a template string or a prompts:/name/N URI, not {type(prompt).__name__}.")
    if not prompt.strip():
        raise InputError("The prompt is empty: write the seed prompt with {{variables}}, e.g. 'Classify: {{review}}'.")
    if prompt.strip().startswith("prompts:/"):
        import mlflow

        uri = prompt.strip()
        try:
            version = mlflow.genai.load_prompt(uri)
        except Exception as e:
            raise InputError(f"Could not load the prompt {uri!r} from the registry: {e}") from e
        if not version.is_text_prompt:
            raise InputError(f"{uri} is a chat prompt; only text prompts are supported.")
        if prompt_name and prompt_name != version.name:
            raise InputError(f"prompt_name {prompt_name!r} differs from the name in {uri!r}.")
        return uri, version.name, version.template
    name = prompt_name or DEFAULT_PROMPT_NAME
    return None, name, prompt
