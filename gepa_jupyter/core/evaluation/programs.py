"""What a candidate runs on one row: `program(candidate, inputs) -> output`.

`TemplateProgram` fills one prompt from the row's variables and asks a model; `ChainProgram`
runs several prompts in order, each output filling the later prompts' `{{name}}`;
`PredictFnProgram` calls a user's mlflow-style predict_fn, which reads the candidate through
`PromptVersion.template`.
"""

from typing import Any, Callable

from gepa_jupyter.core.evaluation import steps
from gepa_jupyter.core.evaluation.prompt_swap import PromptSwap
from gepa_jupyter.core.inputs.templates import fill


class TemplateProgram:
    """Fill the candidate's `prompt_name` template with the row's variables; the model answers."""

    def __init__(self, prompt_name: str, model: Callable[[str], Any]):
        self.prompt_names = [prompt_name]
        self.prompt_name = prompt_name
        self.model = model

    def __call__(self, candidate: dict[str, str], inputs: dict) -> Any:
        return self.model(render(candidate[self.prompt_name], inputs))


class ChainProgram:
    """Several prompts in order: each filled with the row's variables and the earlier outputs
    (`{{name}}`), each answered by the model; the last answer is the output."""

    def __init__(self, prompt_names: list[str], model: Callable[[str], Any]):
        self.prompt_names = list(prompt_names)
        self.model = model

    def __call__(self, candidate: dict[str, str], inputs: dict) -> Any:
        values = dict(inputs)
        output = None
        for name in self.prompt_names:
            output = values[name] = self.model(render(candidate[name], values))
        return output


class PredictFnProgram:
    """mlflow's contract: `predict_fn(**inputs)`, formatting PromptVersions of `prompt_names`."""

    def __init__(self, predict_fn: Callable[..., Any], prompt_names: list[str]):
        self.predict_fn = predict_fn
        self.prompt_names = list(prompt_names)
        self.swap = PromptSwap(self.prompt_names)

    def __call__(self, candidate: dict[str, str], inputs: dict) -> Any:
        with PromptSwap.row(candidate):
            output = self.predict_fn(**inputs)
        steps.record("predict_fn", dict(inputs), output)
        return output


def render(template: str, inputs: dict) -> str:
    """The template filled as mlflow's PromptVersion.format fills it (Jinja2 templates too)."""
    if "{%" in template:
        from mlflow.entities.model_registry import PromptVersion

        return PromptVersion(name="candidate", version=1, template=template).format(**inputs)
    return fill(template, inputs)
