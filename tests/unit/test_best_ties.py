"""One "best": on a tie the earliest candidate, everywhere (issue 14).

A task model whose right answers are set by lines of the prompt (`fix:` rows, `break:` rows), and a
reflection model that, after its first proposal, fixes the failing rows it is shown and breaks as
many other validation rows it is not shown: every later candidate is accepted (better on its
minibatch) and ties the first improved one on the validation set. Later ones also break a held-out
row, so the held-out score tells which candidate was scored as "the best".
"""

import re

from mlflow import MlflowClient

import gepa_jupyter
from gepa_jupyter.api import prepare, start
from gepa_jupyter.testing import REVIEWS, SEED_PROMPT, _current_instruction, sentiment_data
from gepa_jupyter.views import snapshot
from gepa_jupyter.views.table import scores_html

TEXTS = [text for text, _, _ in REVIEWS]
LABELS = [label for _, label, _ in REVIEWS]
BASE = {i for i in range(len(TEXTS)) if i % 2 == 0}  # what the seed gets right


def _rows(prompt: str, key: str) -> set[int]:
    found = re.search(rf"^{key}: ?([\d, ]*)$", prompt, re.M)
    return {int(v) for v in found.group(1).replace(" ", "").split(",") if v} if found else set()


def right_rows(prompt: str) -> set[int]:
    return (BASE | _rows(prompt, "fix")) - _rows(prompt, "break")


def task(prompt: str) -> str:
    row = next(i for i, text in enumerate(TEXTS) if text in prompt)
    right = LABELS[row]
    return right if row in right_rows(prompt) else ("negative" if right == "positive" else "positive")


class TieReflection:
    __name__ = "tie-reflection"

    def __init__(self):
        self.validation: set[int] = set()
        self.held: set[int] = set()

    def __call__(self, request) -> str:
        if not isinstance(request, str):
            request = "\n".join(m.get("content", "") for m in request)
        current = _current_instruction(request)
        shown = {i for i, text in enumerate(TEXTS) if text in request}
        right = right_rows(current)
        fixed, broken = _rows(current, "fix") | (shown - right), set(_rows(current, "break"))
        if "fix:" in current:  # after the first proposal: as many rows broken as fixed, and a held-out one
            candidates = sorted((self.validation & right) - shown - broken)
            broken |= set(candidates[:len(shown - right)])
            broken |= set(sorted((self.held & right) - broken)[:1])
        lines = [SEED_PROMPT, f"fix: {','.join(map(str, sorted(fixed)))}",
                 f"break: {','.join(map(str, sorted(broken)))}"]
        return "```\n" + "\n".join(lines) + "\n```"


def test_a_tie_is_won_by_the_earliest_candidate_everywhere(tracking):
    reflection = TieReflection()
    spec = prepare(SEED_PROMPT, sentiment_data(), model=task, reflection_model=reflection, max_metric_calls=200,
                   holdout=0.25, cache=False, prompt_name="ties")
    position = {text: i for i, text in enumerate(TEXTS)}
    reflection.validation = {position[r["inputs"]["review"]] for r in spec.validation_records}
    reflection.held = {position[r["inputs"]["review"]] for r in spec.holdout_records}
    run = start(spec)
    assert run.wait(120) and run.status == "finished", run.error

    frame = run.scores
    top = frame["score"].max()
    tied = list(frame.loc[frame["score"] == top, "candidate"])
    assert len(tied) >= 2 and top > frame["score"].iloc[0], frame[["candidate", "score"]]
    first = tied[0]
    earliest = run.candidates[first].prompts["ties"]
    assert any(run.candidates[i].prompts["ties"] != earliest for i in tied[1:]), "the tie is between different prompts"

    # the run, gepa's rule (max over indices: the first), the views, the table's mark
    assert run.best.index == first and run.best_prompt == earliest
    gepa_best = max(range(len(frame)), key=lambda i: frame["score"].iloc[i])
    assert gepa_best == first
    snap = snapshot(run)
    assert snap.best_index == first and snap.best_prompt == earliest
    html = scores_html(snap)
    marked = re.findall(r"<tr[^>]*>(?:(?!</tr>).)*★ best(?:(?!</tr>).)*</tr>", html, re.S)
    assert len(marked) == 1 and f">{first}<" in marked[0]
    # held-out scoring used the same candidate: the later ones break a held-out row, it does not
    held = [position[r["inputs"]["review"]] for r in spec.holdout_records]
    expected = sum(i in right_rows(earliest) for i in held) / len(held)
    later = [run.candidates[i].prompts["ties"] for i in tied[1:]]
    assert all(sum(i in right_rows(p) for i in held) / len(held) < expected for p in later)
    assert run.holdout_scores["best"]["score"] == expected
    # the registry and the panel's Copy act on it too
    client = MlflowClient()
    assert client.get_prompt_version_by_alias("ties", "optimized").template == earliest
    assert gepa_jupyter.compare(run).snapshot.best_prompt == earliest
