"""Reflection a small model can do: the code diagnoses, the model phrases one sentence, the code checks it.

gepa's default reflection asks the model to read feedback and rewrite the whole prompt; a 135M
model cannot (it writes no usable instruction and drops `{{variables}}`). SmallModelReflector
(a gepa ReflectionLM) instead, for each proposal:
1. reads the failed rows (input, answer, expected answer) and picks one need: the answer
   format (answers longer than the expected ones) or a case the prompt gets wrong;
2. asks the model for ONE sentence meeting that need (a short, concrete request);
3. checks the sentence (it must name the expected labels / answer); if the model fails the check,
   or its sentence for the same need was already tried, uses a fixed sentence instead;
4. rebuilds the prompt: instruction lines + the new sentence + the input lines, so the
   `{{variables}}` are kept by construction.
`origins` maps each added sentence to "model" or "fixed", so results can be attributed.
"""

import re
from collections import Counter

from gepa_jupyter.core.inputs.templates import VARIABLE
from gepa_jupyter.core.tracking import schema

SYSTEM = "You write short, clear instructions for AI assistants. Reply with the instruction only."
ASK_FORMAT = ('Write one instruction sentence for an assistant. Its task: "{task}" '
              "It must answer with only one word: {labels}.")
ASK_CASE = 'Write one sentence that tells an assistant that {noun} such as "{input}" is {expected}.'
MAX_LABELS, MAX_LABEL_WORDS, MAX_EXAMPLES, MAX_WORDS = 10, 4, 3, 50


def _norm(text) -> str:
    return " ".join(str(text).strip().lower().split()).strip(" .!?\"'")


def _expected(row: dict) -> str:
    exp = row.get("expectations") or {}
    return str(exp.get("expected_response", next(iter(exp.values()), ""))) if isinstance(exp, dict) else str(exp)


def _input_text(row: dict) -> str:
    inputs = row.get("inputs") or {}
    return " / ".join(str(v) for v in inputs.values()) if isinstance(inputs, dict) else str(inputs)


def split_template(template: str) -> tuple[list[str], list[str]]:
    """(instruction lines, input lines). 'Do X: {{v}}' becomes 'Do X.' and 'V: {{v}}'."""
    instruction, inputs = [], []
    for line in (x.rstrip() for x in template.strip().splitlines()):
        if not line.strip():
            continue
        if not VARIABLE.search(line):
            instruction.append(line)
            continue
        match = re.match(r"^(.*?)[:\-]\s*(\{\{\s*(\w+)\s*\}\})\s*$", line)
        if match and len(match.group(1).split()) > 3 and not VARIABLE.search(match.group(1)):
            instruction.append(match.group(1).strip().rstrip(".") + ".")
            inputs.append(f"{match.group(3).replace('_', ' ').capitalize()}: {match.group(2)}")
        else:
            inputs.append(line)
    return instruction, inputs


def clean_sentence(reply: str) -> str:
    """The first paragraph of a reply, unquoted, without invented placeholders, at most 2 sentences."""
    text = (reply or "").strip().strip("`").strip()
    text = text.split("\n\n")[0].replace("\n", " ").strip()
    text = re.sub(r"^(new |better |the )?instruction\s*:\s*", "", text, flags=re.I).strip().strip('"').strip()
    text = re.sub(r"\{\{\s*(\w+)\s*\}\}", r"\1", text)
    sentences = re.split(r"(?<=[.!?])\s+", text)
    return " ".join(sentences[:2]).strip()


class SmallModelReflector:
    """A gepa ReflectionLM for small reflection models (see the module docstring)."""

    def __init__(self, model):
        self.model = model
        self.labels: Counter = Counter()
        self.tried: Counter = Counter()
        self.origins: dict[str, str] = {}
        self.stats: Counter = Counter()  # (need, source) -> proposals
        self.total_cost = 0.0

    def reflect(self, candidate, reflective_dataset, components_to_update):
        return self.reflect_many([(candidate, reflective_dataset, components_to_update)])[0]

    def reflect_many(self, jobs):
        from gepa_jupyter.core.upstream import ReflectionProposal

        results = []
        for candidate, dataset, components in jobs:
            proposal = ReflectionProposal(new_texts={}, prompts={}, raw_lm_outputs={})
            for name in components:
                rows = list(dataset.get(name) or [])
                if not rows:
                    continue
                text, asked, raw, meta = self.propose(candidate[name], rows)
                proposal.new_texts[name] = text
                proposal.prompts[name] = asked
                proposal.raw_lm_outputs[name] = raw
                proposal.metadata[schema.proposal_metadata(name)] = meta
            results.append((proposal, self))
        return results

    # ----- one proposal -------------------------------------------------------------------
    def propose(self, template: str, rows: list[dict]) -> tuple[str, str, str, dict]:
        """(new template, request sent, raw reply, {need, source})."""
        self.labels.update(_norm(_expected(r)) for r in rows)
        instruction, inputs = split_template(template)
        failed = [r for r in rows if float(r.get("score") or 0) < 1] or rows
        need, ask, check, fixed = self._need(instruction, inputs, failed)
        reply = ""
        if self.tried[(need, fixed)] == 0:
            reply = self.model([{"role": "system", "content": SYSTEM}, {"role": "user", "content": ask}])
        self.tried[(need, fixed)] += 1
        sentence = clean_sentence(reply)
        source = "model" if sentence and check(sentence) else "fixed"
        sentence = sentence if source == "model" else fixed
        self.origins.setdefault(sentence, source)
        self.stats[(need, source)] += 1
        instruction = self._add(instruction, sentence, need)
        return "\n".join(instruction + inputs), ask, reply, {"need": need, "source": source}

    def _need(self, instruction: list[str], inputs: list[str], failed: list[dict]):
        """(need, request to the model, check of its sentence, fixed sentence)."""
        labels = self._label_set()
        current = _norm(" ".join(instruction))
        long = [r for r in failed if len(str(r.get("outputs", "")).split()) > len(_expected(r).split()) + 2]
        if long:
            if labels:
                fixed = f"Answer with only one word: {self._join(labels)}."
                ask = ASK_FORMAT.format(task=" ".join(instruction)[:300], labels=self._join(labels))

                def check(s):
                    return all(label in _norm(s) for label in labels) and len(s.split()) <= MAX_WORDS
            else:
                fixed = "Reply with the answer only, without any explanation."
                ask = (f'Write one instruction sentence for an assistant. Its task: "{" ".join(instruction)[:300]}" '
                       "It must reply with the answer only, without explanation.")

                def check(s):
                    return "only" in s.lower() and len(s.split()) <= MAX_WORDS
            if _norm(fixed) not in current:
                return "format", ask, check, fixed
        row = next((r for r in failed if _norm(_input_text(r))[:40] not in current), failed[0])
        text, expected = _input_text(row)[:200], _expected(row)
        noun = self._noun(inputs)
        ask = ASK_CASE.format(noun=noun, input=text, expected=expected)
        fixed = f'Example: "{text}" -> {expected}'

        def check_case(s):
            return _norm(expected) in _norm(s) and len(s.split()) <= MAX_WORDS and "{{" not in s
        return "case", ask, check_case, fixed

    def _add(self, instruction: list[str], sentence: str, need: str) -> list[str]:
        """Append the sentence; keep at most MAX_EXAMPLES case sentences (drop the oldest)."""
        lines = [line for line in instruction if _norm(line) != _norm(sentence)] + [sentence]
        cases = [line for line in lines if self._is_case(line)]
        for old in cases[:-MAX_EXAMPLES] if need == "case" else []:
            lines.remove(old)
        return lines

    def _is_case(self, line: str) -> bool:
        return line.startswith("Example: ") or self.origins.get(line) == "model" and '"' in line

    def _label_set(self) -> list[str]:
        labels = sorted(self.labels)
        if 1 < len(labels) <= MAX_LABELS and all(0 < len(x.split()) <= MAX_LABEL_WORDS for x in labels):
            return labels
        return []

    @staticmethod
    def _join(labels: list[str]) -> str:
        return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " or " + labels[-1]

    @staticmethod
    def _noun(inputs: list[str]) -> str:
        names = [v for line in inputs for v in VARIABLE.findall(line)]
        if len(set(names)) != 1:
            return "an input"
        word = names[0].replace("_", " ")
        return ("an " if word[0] in "aeiou" else "a ") + word
