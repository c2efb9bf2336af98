"""Reading back what a run wrote to MLflow."""

import json
import os


def eval_score_history(run_id: str, key: str = "eval_score") -> list[tuple[int, float]]:
    from mlflow import MlflowClient

    return sorted((m.step, m.value) for m in MlflowClient().get_metric_history(run_id, key))


def candidate_dirs(run_id: str) -> list[str]:
    from mlflow import MlflowClient

    return sorted(
        (f.path for f in MlflowClient().list_artifacts(run_id, "prompt_candidates")),
        key=lambda p: int(p.rsplit("_", 1)[1]),
    )


def candidate_files(run_id: str, directory: str) -> dict[str, str]:
    """{file name: text} of one prompt_candidates/iteration_N folder."""
    import mlflow
    from mlflow import MlflowClient

    files = {}
    for f in MlflowClient().list_artifacts(run_id, directory):
        local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=f.path)
        with open(local) as handle:
            files[os.path.basename(f.path)] = handle.read()
    return files


def assert_scores_match_mlflow(run) -> None:
    """One eval_score step per DataFrame row, equal values, and the artifacts of each step."""
    frame = run.scores
    history = eval_score_history(run.run_id)
    assert [step for step, _ in history] == list(range(len(frame)))
    assert [round(v, 9) for _, v in history] == [round(v, 9) for v in frame["score"]]
    dirs = candidate_dirs(run.run_id)
    assert dirs == [f"prompt_candidates/iteration_{i}" for i in range(len(frame))]
    for i, directory in enumerate(dirs):
        files = candidate_files(run.run_id, directory)
        assert set(files) == {"eval_results.json", "scores.json", f"{run.prompt_name}.txt"}
        assert files[f"{run.prompt_name}.txt"] == frame["prompt"].iloc[i]
        assert abs(json.loads(files["scores.json"])["aggregate"] - frame["score"].iloc[i]) < 1e-9


def skip_without_llama_server() -> None:
    """Skip unless llama-cpp-python[server] is installed, without importing llama.cpp here: the
    embedded model and llama.cpp's server run in processes of their own, never in the test process."""
    import importlib.util

    import pytest

    missing = [m for m in ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context")
               if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"needs llama-cpp-python[server] (missing {', '.join(missing)})")
