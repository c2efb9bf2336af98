"""One writer per run: the n-th resume of a run is claimed by logging the MLflow param
`gepa_jupyter.claim.<n>` (the claimant: host, pid, since when).

MLflow params cannot change once logged, on every store: sqlite, PostgreSQL and other SQL stores
keep them under a primary key (run, key), and a second process logging the same key with another
value gets an error, also when both insert at the same instant (the database refuses the second
row; mlflow then compares the values), and an `mlflow server` answers with that same store's
error. So exactly one claimant of resume n wins, across processes and machines; the others get a
one-line refusal naming the winner. A claim ends when its run ends (`release`: the tag
`gepa_jupyter.released` = n), or when its process died, as core.durability.liveness decides for a run's owner
(the process is gone on this machine; no heartbeat for `STALE_AFTER` seconds from another one).
"""

import json
import logging
import time
from dataclasses import dataclass

from gepa_jupyter.core.durability import liveness
from gepa_jupyter.core.errors import RunConflictError
from gepa_jupyter.core.tracking import schema

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Claim:
    run_id: str
    number: int  # this is the run's n-th resume
    holder: dict


def claims(run) -> dict[int, dict]:
    """The run's claims by number (their holders)."""
    found = {}
    for key, value in run.data.params.items():
        if key.startswith(schema.CLAIM_PREFIX) and key[len(schema.CLAIM_PREFIX):].isdigit():
            try:
                holder = json.loads(value)
            except ValueError:
                holder = {}
            found[int(key[len(schema.CLAIM_PREFIX):])] = holder if isinstance(holder, dict) else {}
    return found


def describe(holder: dict) -> str:
    since = holder.get("since")
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(since)) if isinstance(since, (int, float)) else "?"
    return f"process {holder.get('pid', '?')} on {holder.get('host', 'an unknown host')} since {when}"


def holder_alive(run, holder: dict, now: float | None = None) -> bool:
    """Whether a claim's process still lives: certain on its own machine, else by its heartbeat's age."""
    alive = liveness.owner_alive(holder)
    if alive is not None:
        return alive
    tags = run.data.tags
    last = float(holder.get("since") or 0)
    if liveness.parse(tags, schema.OWNER_TAG).get("token") == holder.get("token"):
        last = max(last, float(liveness.parse(tags, schema.HEARTBEAT_TAG).get("t") or 0))
    return (now or time.time()) - last <= liveness.STALE_AFTER


def _refuse(run_id: str, holder: dict) -> RunConflictError:
    return RunConflictError(f"MLflow run {run_id} is being resumed by {describe(holder)}: only one process may "
                            f"continue a run; watch it with gepa_jupyter.watch({run_id!r}) or wait for it to end.")


def take(client, run_id: str) -> Claim:
    """Claim the run's next resume for this process; RunConflictError naming the live holder otherwise."""
    run = client.get_run(run_id)
    held = claims(run)
    latest = max(held, default=0)
    released = _number(run.data.tags.get(schema.RELEASED_TAG))
    if latest > released and holder_alive(run, held[latest]):
        raise _refuse(run_id, held[latest])
    number = latest + 1
    holder = liveness.this_process() | {"since": round(time.time(), 3)}
    value = json.dumps(holder, sort_keys=True)
    key = f"{schema.CLAIM_PREFIX}{number}"
    try:
        client.log_param(run_id, key, value)
    except Exception as e:  # noqa: BLE001 - the store refused: someone logged this key first (or the store is away)
        _logger.debug("claim %s of run %s not logged: %r", key, run_id, e)
    stored = client.get_run(run_id).data.params.get(key)
    if stored != value:
        if stored is None:
            raise RunConflictError(f"MLflow run {run_id}: could not claim it for this resume (the tracking store "
                                   "did not keep the claim); try again.")
        try:
            winner = json.loads(stored)
        except ValueError:
            winner = {}
        raise _refuse(run_id, winner if isinstance(winner, dict) else {})
    return Claim(run_id, number, holder)


def release(client, claim: Claim | None) -> None:
    """End a claim (its run ended); a later claim is left alone."""
    if claim is None:
        return
    try:
        if _number(client.get_run(claim.run_id).data.tags.get(schema.RELEASED_TAG)) < claim.number:
            client.set_tag(claim.run_id, schema.RELEASED_TAG, str(claim.number))
    except Exception as e:  # noqa: BLE001 - the store may be away: the claim then ends with this process
        _logger.debug("claim %s of run %s not released: %r", claim.number, claim.run_id, e)


def _number(value) -> int:
    return int(value) if isinstance(value, str) and value.isdigit() else 0
