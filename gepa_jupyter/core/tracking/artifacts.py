"""Reading small artifacts of a run back (JSON, the gepa state), quietly.

`MlflowClient.download_artifacts` draws a tqdm bar per download into whatever cell runs; a
watcher polling every few seconds would fill it. This reads one file through the run's artifact
repository directly (its per-file download, the one the bar wraps).
"""

import json
import os
import tempfile

from gepa_jupyter.core.upstream import artifact_repository, download_file


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
        download_file(artifact_repository(client, run_id), path, local)
        with open(local, "rb") as handle:
            return handle.read()


def read_json(client, run_id: str, path: str):
    """A JSON artifact of the run, or None when it is not there."""
    raw = read_bytes(client, run_id, path)
    return None if raw is None else json.loads(raw)
