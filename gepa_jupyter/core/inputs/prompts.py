"""The prompts a run optimizes: one template, or several named ones (the steps of a program).

Several prompts are written as a dict `{name: template}`, a list of `prompts:/name/N` URIs, or one
text with a `### name` line before each prompt (the magic's cell body):

    ### rewrite
    Rewrite the question so it is self-contained: {{question}}
    ### answer
    Answer in one word: {{rewrite}}

A `{{variable}}` named like another prompt is that prompt's output: with a task model the prompts
run in order as a chain (each output fills the later prompts' `{{name}}`, the last one's output is
the answer); with a `predict_fn` the program decides (mlflow's contract: it formats each prompt).
Every other variable is a column of the data.
"""

import re
from dataclasses import dataclass, field

from gepa_jupyter.core.errors import InputError
from gepa_jupyter.core.inputs.templates import template_variables

SECTION = re.compile(r"^###[ \t]+(\S+)[ \t]*$", re.M)


@dataclass(frozen=True)
class PromptSet:
    templates: dict[str, str]  # name -> template, in program order
    uris: dict[str, str] = field(default_factory=dict)  # name -> registered version given as the seed

    @property
    def names(self) -> list[str]:
        return list(self.templates)

    @property
    def single(self) -> bool:
        return len(self.templates) == 1

    def outputs_used(self, name: str) -> list[str]:
        """Names of the prompts whose output `name`'s template reads."""
        return [v for v in template_variables(self.templates[name]) if v in self.templates and v != name]

    def data_variables(self) -> list[str]:
        """The variables the data must provide (every variable that is not a prompt's output)."""
        found = [v for text in self.templates.values() for v in template_variables(text) if v not in self.templates]
        return list(dict.fromkeys(found))


def join_sections(templates: dict[str, str]) -> str:
    if len(templates) == 1:
        return next(iter(templates.values()))
    return "\n\n".join(f"### {name}\n{text.strip()}" for name, text in templates.items())


def split_sections(text: str) -> dict[str, str] | None:
    """{name: template} of a text made of `### name` sections; None if it has no section line."""
    marks = list(SECTION.finditer(text))
    if not marks:
        return None
    if text[:marks[0].start()].strip():
        raise InputError("Text before the first '### name' line: with several prompts, start each one with a "
                         "line '### <prompt name>'.")
    sections: dict[str, str] = {}
    for mark, following in zip(marks, marks[1:] + [None]):
        name = mark.group(1)
        if name in sections:
            raise InputError(f"Two prompts are named {name!r}: each '### name' must be different.")
        body = text[mark.end():following.start() if following else len(text)].strip()
        if not body:
            raise InputError(f"The prompt {name!r} is empty: write its template below '### {name}'.")
        sections[name] = body
    return sections


def check_chain(prompts: PromptSet) -> None:
    """Several prompts run by a task model: each reads only earlier outputs, and each but the last
    feeds a later one (otherwise its output would be thrown away)."""
    names = prompts.names
    for position, name in enumerate(names):
        later = [v for v in prompts.outputs_used(name) if names.index(v) > position]
        if later:
            raise InputError(f"The prompt {name!r} reads {{{{{later[0]}}}}}, the output of a later prompt: "
                             "order the prompts so each reads only earlier outputs.")
        if position < len(names) - 1 and not any(name in prompts.outputs_used(n) for n in names[position + 1:]):
            raise InputError(
                f"The prompt {name!r} feeds no later prompt: in a chain each prompt's output fills "
                f"{{{{{name}}}}} in a later one (the last prompt's output is the answer). Use {{{{{name}}}}} "
                "in a later prompt, or give a predict_fn that uses it.")


def check_length(prompts: PromptSet) -> None:
    """Every prompt fits MLflow's prompt registry (its limit on a version's text), before the run starts."""
    from gepa_jupyter.core.upstream import max_prompt_length as limit

    for name, text in prompts.templates.items():
        if len(text) > limit:
            raise InputError(f"The prompt {name!r} has {len(text):,} characters; MLflow's prompt registry stores "
                             f"at most {limit:,}. Shorten it (put long reference text in a data column instead).")


def check_variables(prompts: PromptSet) -> None:
    """Every prompt reads at least one variable (of the data, or an earlier prompt's output)."""
    for name, text in prompts.templates.items():
        if not template_variables(text):
            raise InputError(f"The prompt {name!r} has no {{{{variable}}}}: it would ask the same thing of every "
                             "row. Add one, e.g. '{{review}}' (a column of the data) or an earlier prompt's name.")


def user_candidate(value, seeds: dict[str, str], current: dict[str, str]) -> dict[str, str]:
    """The prompts of a candidate the user wrote (`run.add_candidate`): one text, `### name` sections or
    `{name: text}`; prompts it leaves out keep their `current` text. InputError unless every prompt keeps
    its seed's `{{variables}}` (the guard gepa's proposals pass too) and fits the prompt registry."""
    from gepa_jupyter.core.inputs.templates import variable_mismatch

    if isinstance(value, str):
        if not value.strip():
            raise InputError("The candidate prompt is empty: write the prompt's text.")
        sections = split_sections(value) if len(seeds) > 1 else None
        if len(seeds) > 1 and sections is None:
            raise InputError(f"This run optimizes {len(seeds)} prompts ({', '.join(seeds)}): give "
                             "{name: text}, or start each prompt with a line '### <prompt name>'.")
        value = sections or {next(iter(seeds)): value}
    if not isinstance(value, dict) or not value or not all(isinstance(t, str) for t in value.values()):
        raise InputError("A candidate is a prompt text or a dict {prompt name: text}, got "
                         f"{type(value).__name__}.")
    unknown = [name for name in value if name not in seeds]
    if unknown:
        raise InputError(f"The candidate names {', '.join(map(repr, unknown))}, not a prompt of this run "
                         f"({', '.join(map(repr, seeds))}).")
    prompts = {name: (value[name] if name in value else current.get(name, seed)) for name, seed in seeds.items()}
    for name, text in prompts.items():
        missing, invented = variable_mismatch(template_variables(seeds[name]), text)
        if missing or invented:
            parts = (["drops " + ", ".join("{{" + v + "}}" for v in missing)] if missing else []) + (
                ["invents " + ", ".join("{{" + v + "}}" for v in invented)] if invented else [])
            wanted = ", ".join("{{" + v + "}}" for v in template_variables(seeds[name])) or "none"
            raise InputError(f"The candidate's prompt {name!r} {' and '.join(parts)}: it must use the same "
                             f"variables as the seed ({wanted}).")
    check_length(PromptSet(prompts))
    return prompts
