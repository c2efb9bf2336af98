"""The team's store: an `mlflow server --serve-artifacts` backed by PostgreSQL, both started here on
127.0.0.1 (Debian's postgresql binaries, a temporary data folder, run as a non-root user when the
suite runs as root). Eight optimize jobs at once through the command line and two watchers; two jobs
are SIGKILLed and resumed: every candidate is kept, no run is left RUNNING, no metric step repeats;
two processes resuming one run at the same instant, ten times, leave exactly one writer."""

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from gepa_jupyter.testing import REFLECTION_MODEL, SEED_PROMPT, TASK_MODEL, sentiment_data
from tests.store.test_remote_tracking import _free_port, await_server

pytestmark = pytest.mark.slow
JOBS = 8
KILLED = 2


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _as_owner(command: list[str], owner: str | None) -> list[str]:
    return ["runuser", "-u", owner, "--", *command] if owner else command


@pytest.fixture(scope="module")
def postgres():
    """A PostgreSQL server on 127.0.0.1 in a temporary data folder; its SQLAlchemy URI."""
    binaries = _postgres_bin()
    if binaries is None:
        pytest.skip("PostgreSQL's binaries are not installed (Debian: apt-get install -y postgresql)")
    pytest.importorskip("psycopg2", reason="psycopg2-binary is not installed (the [test] extra has it)")
    owner = None
    folder = Path(tempfile.mkdtemp(prefix="gepa-jupyter-pg-"))
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        owner = "postgres" if shutil.which("runuser") and _user_exists("postgres") else None
        if owner is None:
            pytest.skip("running as root without a 'postgres' user and runuser to start PostgreSQL as")
        shutil.chown(folder, owner)
    os.chmod(folder, 0o700)
    data, port = folder / "data", _free_port()
    subprocess.run(_as_owner([str(binaries / "initdb"), "-D", str(data), "-U", "mlflow", "-A", "trust",
                              "--no-sync"], owner), check=True, capture_output=True, timeout=120)
    log = folder / "server.log"
    started = subprocess.run(_as_owner([str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60",
                                        "-o", f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off "
                                              "-c max_connections=200", "start"], owner),
                             capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stderr + (log.read_text() if log.exists() else "")
    try:
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=port, user="mlflow", dbname="postgres")
        connection.autocommit = True
        connection.cursor().execute("CREATE DATABASE mlflow")
        connection.close()
        yield f"postgresql+psycopg2://mlflow@127.0.0.1:{port}/mlflow"
    finally:
        subprocess.run(_as_owner([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], owner),
                       capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


@pytest.fixture(scope="module")
def team_server(postgres, tmp_path_factory):
    """`mlflow server` on the PostgreSQL store, serving artifacts, on 127.0.0.1; its URL."""
    import mlflow

    folder = tmp_path_factory.mktemp("team")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = folder / "server.log"
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("mlflow")), "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", postgres, "--serve-artifacts", "--artifacts-destination", str(folder / "artifacts"),
         "--workers", "2"],
        stdout=open(log, "w"), stderr=subprocess.STDOUT, cwd=folder, start_new_session=True,
        env=os.environ | {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
    previous = mlflow.get_tracking_uri()
    try:
        await_server(server, url, log, seconds=180)
        mlflow.set_tracking_uri(url)
        yield {"url": url, "folder": folder}
    finally:
        mlflow.set_tracking_uri(previous)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(server.pid, sig)
                server.wait(10)
                break
            except (ProcessLookupError, subprocess.TimeoutExpired):
                continue


def _cli(args: list[str], cwd: Path, url: str, name: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gepa_jupyter", *args], cwd=cwd, text=True,
                            env={**os.environ, "MLFLOW_TRACKING_URI": url}, stdout=subprocess.PIPE,
                            stderr=open(cwd / f"{name}.err", "w"))


def _run_id(job: subprocess.Popen, cwd: Path, name: str) -> str:
    for line in job.stdout:
        if line.startswith("MLflow run ") and "watch it" in line:
            return line.split()[2]
    job.wait(30)
    pytest.fail(f"{name} never announced its run:\n{(cwd / f'{name}.err').read_text()[-3000:]}")


def _drain(job: subprocess.Popen) -> None:
    """Read a job's output on a thread (a full pipe would block it)."""
    import threading

    threading.Thread(target=job.stdout.read, daemon=True).start()


def _stored(client: MlflowClient, run_id: str) -> dict:
    """Each stored step's prompt text, and the eval_score steps as logged (repeats included)."""
    from gepa_jupyter.core.tracking.artifacts import read_bytes

    steps = [m.step for m in client.get_metric_history(run_id, "eval_score")]
    prompts = {}
    for entry in client.list_artifacts(run_id, "prompt_candidates"):
        step = int(entry.path.rsplit("_", 1)[1])
        raw = read_bytes(client, run_id, f"{entry.path}/team.txt")
        if raw is not None:
            prompts[step] = raw.decode()
    return {"steps": steps, "prompts": prompts}


def test_eight_jobs_two_watchers_two_killed_and_resumed_on_postgres(team_server, openai_server, tmp_path):
    url = team_server["url"]
    client = MlflowClient(tracking_uri=url)
    openai_server.latency = 0.03
    sentiment_data().to_csv(tmp_path / "reviews.csv", index=False)
    (tmp_path / "prompt.txt").write_text(SEED_PROMPT + "\n")
    kwargs = json.dumps({"api_base": openai_server.url})
    args = ["optimize", "--prompt-file", "prompt.txt", "--data", "reviews.csv", "--model", f"openai:/{TASK_MODEL}",
            "--model-kwargs", kwargs, "--reflection-model", f"openai:/{REFLECTION_MODEL}",
            "--reflection-kwargs", kwargs,
            "--workers", "2", "--no-cache", "--experiment", "team-pg", "--name", "team", "--heartbeat", "5"]
    # The jobs to kill get a budget they cannot use up before the kill; the others end on their own.
    jobs = [_cli([*args, "--budget", "1000" if i < KILLED else "120"], tmp_path, url, f"job{i}") for i in range(JOBS)]
    processes = list(jobs)
    try:
        run_ids = [_run_id(job, tmp_path, f"job{i}") for i, job in enumerate(jobs)]
        for job in jobs:
            _drain(job)
        watchers = [_cli(["watch", run_ids[i], "--interval", "1"], tmp_path, url, f"watch{i}") for i in (0, JOBS - 1)]
        processes += watchers
        killed = run_ids[:KILLED]
        deadline = time.monotonic() + 300
        for job, run_id in zip(jobs, killed):
            while len(_stored(client, run_id)["steps"]) < 2:
                assert time.monotonic() < deadline, "the jobs to kill never scored two candidates"
                time.sleep(0.5)
            job.send_signal(signal.SIGKILL)
            job.wait(30)
        before = {r: _stored(client, r) for r in killed}
        calls_before = {r: _saved_calls(client, r) for r in killed}
        for r in killed:  # RUNNING, or FAILED as died by the watcher of the first one
            info = client.get_run(r)
            assert info.info.status == "RUNNING" or "gepa_jupyter.died" in info.data.tags, info.info.status
        resumes = [_cli(["resume", r, "--budget", "40", "--heartbeat", "5"], tmp_path, url, f"resume{i}")
                   for i, r in enumerate(killed)]
        processes += resumes
        for i, job in enumerate(jobs[KILLED:] + resumes):
            assert job.wait(600) == 0, (tmp_path / f"job{i + KILLED}.err").read_text()[-3000:] if i < JOBS - KILLED \
                else (tmp_path / f"resume{i - JOBS + KILLED}.err").read_text()[-3000:]
        for watcher in watchers:
            watcher.wait(120)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(30)

    for run_id in run_ids:
        info = client.get_run(run_id)
        stored = _stored(client, run_id)
        assert info.info.status == "FINISHED", (run_id, info.info.status, info.data.tags.get("gepa_jupyter.error"))
        steps = stored["steps"]
        assert sorted(steps) == list(range(len(steps))), f"a metric step repeated: {steps}"
        assert sorted(stored["prompts"]) == list(range(len(stored["steps"]))), "every step has its files"
        state = json.loads(_artifact(client, run_id, "gepa_jupyter/state.json"))
        assert [c["team"] for c in state["candidates"]] == [stored["prompts"][s] for s in sorted(stored["prompts"])]
    for run_id in killed:
        after = _stored(client, run_id)
        assert all(after["prompts"][s] == text for s, text in before[run_id]["prompts"].items()), \
            "a candidate stored before the kill was lost or overwritten"
        # The resume went on spending (new candidates only when the fake reflection still improves).
        assert _saved_calls(client, run_id) > calls_before[run_id], "the resume did not go on"
        tags = client.get_run(run_id).data.tags
        assert tags["gepa_jupyter.resumes"] == "1" and tags["gepa_jupyter.released"] == "1"
    assert all(w.returncode is not None for w in watchers), "the watchers ended with their runs"


def _saved_calls(client: MlflowClient, run_id: str) -> int:
    """The metric calls in the run's saved state (0 before the first save)."""
    from gepa_jupyter.core.tracking.artifacts import read_bytes

    raw = read_bytes(client, run_id, "gepa_jupyter/state.json")
    return json.loads(raw)["metric_calls"] if raw is not None else 0


def _artifact(client: MlflowClient, run_id: str, path: str) -> bytes:
    from gepa_jupyter.core.tracking.artifacts import read_bytes

    raw = read_bytes(client, run_id, path)
    assert raw is not None, f"{path} is missing"
    return raw


def test_two_resumers_at_the_same_instant_one_wins_ten_times_on_postgres(team_server, tmp_path):
    from tests.store.test_durable_trust import _assert_one_winner_each_round, _race, _stopped

    run_id = _stopped(sentiment_data(), candidates=2).run_id
    _assert_one_winner_each_round(_race(run_id, team_server["url"], tmp_path), run_id)
