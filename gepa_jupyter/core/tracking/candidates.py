"""Log one validation candidate to MLflow exactly as mlflow's GEPA adapter lays it out.

Layout (mlflow/genai/optimize/optimizers/gepa_optimizer.py): the table
`prompt_candidates/iteration_N/eval_results.json`, `scores.json`, one `<prompt name>.txt`
per prompt, and the metrics `eval_score` and `eval_score.<scorer>` at step N.
"""

import json
import tempfile
from pathlib import Path

from gepa_jupyter.core.tracking import schema
from gepa_jupyter.core.tracking.recorder import metric


def summarize(eval_results: list) -> tuple[float, dict[str, float]]:
    """(aggregate mean, per-scorer means) of a list of EvaluationResultRecord."""
    aggregate = sum(r.score for r in eval_results) / len(eval_results) if eval_results else 0.0
    names = list(dict.fromkeys(n for r in eval_results for n in r.individual_scores))  # scorer order
    per_scorer = {}
    for name in names:
        values = [r.individual_scores[name] for r in eval_results if name in r.individual_scores]
        if values:
            per_scorer[name] = sum(values) / len(values)
    return aggregate, per_scorer


def log_candidate(step: int, prompts: dict[str, str], eval_results: list, aggregate: float,
                  per_scorer: dict[str, float], run_id: str | None = None, client=None, metrics: bool = True,
                  table: bool = True) -> None:
    """Write one candidate's table (unless `table=False`), scores, prompt texts and (unless `metrics=False`)
    metrics to the run."""
    import mlflow

    client = client or mlflow.MlflowClient()
    if not run_id:
        active = mlflow.active_run()
        if active is None:
            raise RuntimeError("log_candidate needs a run_id or an active MLflow run.")
        run_id = active.info.run_id
    directory = schema.iteration_dir(step)
    rows = {
        "inputs": [r.inputs for r in eval_results],
        "output": [r.outputs for r in eval_results],
        "expectation": [r.expectations for r in eval_results],
        "aggregate_score": [r.score for r in eval_results],
    }
    for name in per_scorer:
        rows[name] = [r.individual_scores.get(name) for r in eval_results]
    if table:
        client.log_table(run_id, data=rows, artifact_file=f"{directory}/{schema.EVAL_RESULTS_FILE}")
    if metrics:
        values = {schema.EVAL_SCORE: aggregate} | {f"{schema.EVAL_SCORE}.{n}": s for n, s in per_scorer.items()}
        client.log_batch(run_id, metrics=[metric(k, v, step) for k, v in values.items()])
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        scores = {"aggregate": aggregate, "per_scorer": per_scorer}
        (tmp_path / schema.SCORES_FILE).write_text(json.dumps(scores, indent=2))
        for name, text in prompts.items():
            (tmp_path / f"{name}.txt").write_text(text)
        client.log_artifacts(run_id, tmp, artifact_path=directory)
