"""The scores table: one row per validation candidate, as a plain pandas DataFrame."""

from gepa_jupyter.core.events import CandidateEvent

BASE_COLUMNS = ["candidate", "iteration", "parent", "score"]
TAIL_COLUMNS = ["metric_calls", "elapsed_s", "model_calls", "cost_usd", "new_best", "prompt"]


def usage_totals(usage: dict) -> tuple[int, float]:
    """(model calls, cost) summed over the roles of a usage snapshot."""
    calls = sum(int(u.get("calls", 0)) for u in usage.values() if isinstance(u, dict))
    cost = sum(float(u.get("cost", 0.0)) for u in usage.values() if isinstance(u, dict))
    return calls, cost


def candidates_frame(candidates: list[CandidateEvent], prompt_name: str | None = None):
    """A fresh DataFrame of the candidates: sort, filter and save it freely."""
    import pandas as pd

    scorer_names = list(dict.fromkeys(n for c in candidates for n in c.scorer_scores))
    rows = []
    for c in candidates:
        calls, cost = usage_totals(c.usage)
        if prompt_name and prompt_name in c.prompts:
            prompt = c.prompts[prompt_name]
        else:
            prompt = "\n\n".join(c.prompts.values()) if len(c.prompts) != 1 else next(iter(c.prompts.values()))
        rows.append(
            [c.index, c.iteration, c.parents[0] if c.parents else None, c.score]
            + [c.scorer_scores.get(n) for n in scorer_names]
            + [c.metric_calls, round(c.elapsed, 3), calls, cost, c.new_best, prompt]
        )
    frame = pd.DataFrame(rows, columns=BASE_COLUMNS + scorer_names + TAIL_COLUMNS)
    return frame.astype({"parent": "Int64"}) if not frame.empty else frame
