"""The scores table: one row per validation candidate, as a plain pandas DataFrame."""

from gepa_jupyter.core.events import CandidateEvent

BASE_COLUMNS = ["candidate", "iteration", "parent", "score"]
TAIL_COLUMNS = ["metric_calls", "elapsed_s", "model_calls", "cost_usd", "new_best", "origin", "prompt"]


PROMPT_COLUMN = "prompt:"  # + a prompt's name, with several prompts
CHANGED = "changed"


def scorer_columns(frame) -> list[str]:
    """The per-scorer columns of a scores DataFrame."""
    fixed = set(BASE_COLUMNS + TAIL_COLUMNS + [CHANGED])
    return [c for c in frame.columns if c not in fixed and not str(c).startswith(PROMPT_COLUMN)]


def usage_totals(usage: dict) -> tuple[int, float]:
    """(model calls, cost) summed over the roles of a usage snapshot."""
    calls = sum(int(u.get("calls", 0)) for u in usage.values() if isinstance(u, dict))
    cost = sum(float(u.get("cost", 0.0)) for u in usage.values() if isinstance(u, dict))
    return calls, cost


def candidates_frame(candidates: list[CandidateEvent], prompt_names=None):
    """A fresh DataFrame of the candidates: sort, filter and save it freely.

    `origin` says who wrote it: "seed", "gepa" or "user" (run.add_candidate). `prompt` holds the candidate's
    prompt (with several prompts, their `### name` sections); with
    several prompts each also has a column `prompt:<name>`, and `changed` names the prompts that
    differ from the candidate's parent (the component gepa chose to change).
    """
    import pandas as pd

    from gepa_jupyter.core.inputs.prompts import join_sections

    names = [prompt_names] if isinstance(prompt_names, str) else list(prompt_names or [])
    several = len(names) > 1
    by_index = {c.index: c for c in candidates}
    scorer_names = list(dict.fromkeys(n for c in candidates for n in c.scorer_scores))
    rows = []
    for c in candidates:
        calls, cost = usage_totals(c.usage)
        texts = {n: c.prompts[n] for n in names if n in c.prompts} or dict(c.prompts)
        row = ([c.index, c.iteration, c.parents[0] if c.parents else None, c.score]
               + [c.scorer_scores.get(n) for n in scorer_names]
               + [c.metric_calls, round(c.elapsed, 3), calls, cost, c.new_best, c.origin, join_sections(texts)])
        if several:
            parent = by_index.get(c.parents[0]) if c.parents else None
            row += [texts.get(n) for n in names]
            row.append(", ".join(n for n in names if parent is not None and parent.prompts.get(n) != texts.get(n)))
        rows.append(row)
    prompt_columns = [PROMPT_COLUMN + n for n in names] + [CHANGED] if several else []
    columns = BASE_COLUMNS + scorer_names + TAIL_COLUMNS + prompt_columns
    frame = pd.DataFrame(rows, columns=columns)
    return frame.astype({"parent": "Int64"}) if not frame.empty else frame
