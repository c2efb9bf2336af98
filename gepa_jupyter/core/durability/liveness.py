"""Is the process running an MLflow run still alive? An owner tag, a heartbeat, and a sweep.

A run writes `gepa_jupyter.owner` (host, boot, pid namespace, pid and the pid's start time) when
it starts, and `gepa_jupyter.heartbeat` (its clock, a beat counter and its progress) every
`HEARTBEAT_EVERY` seconds (at once on pause and continue: its progress and the status tag say
"paused" while the run is paused). A RUNNING run is dead when:
- its owner ran on this machine (same host, boot and pid namespace) and that process is gone
  (or the pid now belongs to another process): certain, at once;
- otherwise, when its last heartbeat is older than `STALE_AFTER` seconds. That compares another
  machine's clock with ours, so it is only used where a mistake can be undone: a live owner that
  finds its run marked dead marks it running again at its next beat. `confirm_stale` waits out
  two beats and checks that the counter did not move: no clock is compared.

`sweep(client, experiment_ids)` marks the dead runs FAILED with a `gepa_jupyter.died` tag.
"""

import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Callable

from gepa_jupyter.core.tracking import schema

_logger = logging.getLogger(__name__)

HEARTBEAT_EVERY = 5.0  # seconds between heartbeats
STALE_AFTER = 90.0  # seconds without a heartbeat before a run of another machine counts as dead
HEAL_EVERY = 6  # beats between checks that nobody marked the run dead while it was alive
_TOKEN = uuid.uuid4().hex[:12]


def _read(path: str) -> str | None:
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return None


def _pid_namespace() -> str | None:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def process_start(pid: int) -> str | None:
    """The start time of process `pid` (clock ticks since boot, Linux), to tell a reused pid."""
    stat = _read(f"/proc/{pid}/stat")
    if not stat or ")" not in stat:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return fields[19] if len(fields) > 19 else None


def this_process() -> dict:
    """The owner record of this process."""
    return {"host": socket.gethostname(), "boot": _read("/proc/sys/kernel/random/boot_id"),
            "pidns": _pid_namespace(), "pid": os.getpid(), "started": process_start(os.getpid()),
            "token": _TOKEN}


def owner_alive(owner: dict) -> bool | None:
    """True/False when this machine can tell whether the owner process lives; None when it cannot."""
    me = this_process()
    if owner.get("token") == me["token"]:
        return True
    if owner.get("host") != me["host"]:
        return None
    if owner.get("boot") and me["boot"] and owner["boot"] != me["boot"]:
        return False  # the machine rebooted since
    if not owner.get("pidns") or owner["pidns"] != me["pidns"]:
        return None  # another container on the same host name
    pid = int(owner.get("pid", 0))
    if pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by another user: its start time tells whether it is the owner
        _logger.debug("pid %s belongs to another user", pid)
    started = owner.get("started")
    return not (started and process_start(pid) not in (None, started))


def parse(tags: dict, key: str) -> dict:
    try:
        value = json.loads(tags.get(key) or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def describe_owner(owner: dict) -> str:
    return f"process {owner.get('pid', '?')} on {owner.get('host', 'an unknown host')}"


@dataclass(frozen=True)
class Verdict:
    dead: bool
    reason: str
    certain: bool  # from the process table, not from the heartbeat's age


def judge(run, now: float | None = None) -> Verdict | None:
    """Whether a RUNNING run of ours is dead; None for other runs (not ours, or not RUNNING)."""
    tags = run.data.tags
    if run.info.status != "RUNNING" or schema.OWNER_TAG not in tags:
        return None
    owner, beat = parse(tags, schema.OWNER_TAG), parse(tags, schema.HEARTBEAT_TAG)
    who = describe_owner(owner)
    alive = owner_alive(owner)
    if alive is not None:
        return Verdict(not alive, f"{who} is gone" if not alive else f"{who} is running", True)
    last = float(beat.get("t") or (run.info.start_time or 0) / 1000)
    age = (now or time.time()) - last
    if age > STALE_AFTER:
        return Verdict(True, f"{who} sent no heartbeat for {age / 60:.0f} min", False)
    return Verdict(False, f"{who} sent a heartbeat {max(age, 0):.0f} s ago", False)


def confirm_stale(client, run_id: str, wait: float | None = None) -> bool:
    """True when the heartbeat counter of `run_id` does not move for two beats (clock-free)."""
    def counter():
        return parse(client.get_run(run_id).data.tags, schema.HEARTBEAT_TAG).get("beat")

    before = counter()
    time.sleep(2 * HEARTBEAT_EVERY + 1 if wait is None else wait)
    return counter() == before


def mark_dead(client, run, verdict: Verdict) -> str:
    """End a dead run FAILED, tagged with why; the message."""
    from mlflow.entities import RunTag

    message = (f"The process running this optimization died ({verdict.reason}); "
               f"marked FAILED on {time.strftime('%Y-%m-%d %H:%M:%S')} by {describe_owner(this_process())}.")
    tags = {schema.DIED_TAG: message, schema.STATUS_TAG: "failed", schema.ERROR_TAG: message}
    client.log_batch(run.info.run_id, tags=[RunTag(k, v) for k, v in tags.items()])
    client.set_terminated(run.info.run_id, status="FAILED")
    return message


def sweep(client, experiment_ids: list[str], only: str | None = None) -> list:
    """Mark every dead RUNNING run of ours in the experiments FAILED; the runs marked."""
    runs = client.search_runs(experiment_ids, filter_string="attributes.status = 'RUNNING'", max_results=200)
    marked = []
    for run in runs:
        if only is not None and run.info.run_id != only:
            continue
        verdict = judge(run)
        if verdict is not None and verdict.dead:
            mark_dead(client, run, verdict)
            marked.append(client.get_run(run.info.run_id))
    return marked


class Heartbeat:
    """Writes the owner tag once, then the heartbeat every `every` seconds on a daemon thread.

    `progress()` returns what watchers see between candidates (metric calls, activity, usage).
    A run wrongly marked dead while it was alive is marked running again.
    """

    def __init__(self, client, run_id: str, progress: Callable[[], dict], name: str,
                 every: float = HEARTBEAT_EVERY):
        self.client = client
        self.run_id = run_id
        self.progress = progress
        self.every = every
        self.beats = 0
        self.errors = 0
        self._status = "running"  # the status tag as the run wrote it; the heartbeat writes "paused" and back
        self._stop = threading.Event()
        self._lock = threading.Lock()  # a beat that heals the run never overlaps the run's end
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> "Heartbeat":
        self.client.set_tag(self.run_id, schema.OWNER_TAG, json.dumps(this_process()))
        self.beat()
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self._beat_counted()

    def beat_soon(self) -> None:
        """A beat now, on a thread of its own (pause and continue: watchers see it at once)."""
        threading.Thread(target=self._beat_counted, name=f"{self._thread.name}-now", daemon=True).start()

    def _beat_counted(self) -> None:
        try:
            self.beat()
        except Exception:  # the store may be away for a while: the next beat tries again
            self.errors += 1

    def beat(self) -> None:
        with self._lock:
            if not self._stop.is_set():
                self._write()
                if self.beats % HEAL_EVERY == 0:
                    self._heal()

    def _write(self) -> None:
        self.beats += 1
        value = {"t": round(time.time(), 3), "beat": self.beats, "every": self.every} | _safe(self.progress)
        self.client.set_tag(self.run_id, schema.HEARTBEAT_TAG, json.dumps(value, default=str)[:5000])
        status = value.get("status")
        if status in ("running", "paused") and status != self._status and not self._stop.is_set():
            self.client.set_tag(self.run_id, schema.STATUS_TAG, status)
            self._status = status

    def _heal(self) -> None:
        run = self.client.get_run(self.run_id)
        if run.info.status == "FAILED" and schema.DIED_TAG in run.data.tags:
            self.client.update_run(self.run_id, status="RUNNING")
            self.client.delete_tag(self.run_id, schema.DIED_TAG)
            self.client.set_tag(self.run_id, schema.STATUS_TAG, "running")
            self.client.delete_tag(self.run_id, schema.ERROR_TAG)

    def stop(self, timeout: float = 5.0) -> None:
        """A last beat (the final progress, for watchers); none after this returns (a beat in
        flight gets `timeout` seconds to end)."""
        self._stop.set()
        if self._lock.acquire(timeout=timeout):
            try:
                self._write()
            except Exception as e:
                _logger.debug("last heartbeat of run %s not written: %r", self.run_id, e)
            finally:
                self._lock.release()


def _safe(progress: Callable[[], dict]) -> dict:
    try:
        return dict(progress())
    except Exception:
        return {}
