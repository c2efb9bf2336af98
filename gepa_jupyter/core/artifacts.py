"""Reading small artifacts of a run back (JSON, the gepa state), quietly.

`MlflowClient.download_artifacts` draws a tqdm bar per download into whatever cell runs; a
watcher polling every few seconds would fill it. This reads one file through the run's artifact
repository directly (its per-file download, the one the bar wraps).
"""

import json
import os
import tempfile


def _repository(client, run_id: str):
    tracking = getattr(client, "_tracking_client", None)
    if tracking is not None and hasattr(tracking, "_get_artifact_repo"):
        return tracking._get_artifact_repo(run_id)
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    return get_artifact_repository(client.get_run(run_id).info.artifact_uri, tracking_uri=client.tracking_uri)


def names(client, run_id: str, folder: str) -> list[str]:
    """The file names in an artifact folder of the run (empty when there is none)."""
    try:
        return [f.path.rsplit("/", 1)[-1] for f in client.list_artifacts(run_id, folder) if not f.is_dir]
    except Exception:
        return []


def read_bytes(client, run_id: str, path: str) -> bytes | None:
    """An artifact's bytes, or None when it is not there."""
    folder, _, name = path.rpartition("/")
    if name not in names(client, run_id, folder):
        return None
    with tempfile.TemporaryDirectory(prefix="gepa-jupyter-read-") as target:
        local = os.path.join(target, name)
        repository = _repository(client, run_id)
        download = getattr(repository, "_download_file", None)
        if download is not None:
            download(path, local)
        else:  # pragma: no cover - every mlflow repository has it
            local = client.download_artifacts(run_id, path, target)
        with open(local, "rb") as handle:
            return handle.read()


def read_json(client, run_id: str, path: str):
    """A JSON artifact of the run, or None when it is not there."""
    raw = read_bytes(client, run_id, path)
    return None if raw is None else json.loads(raw)
