"""What a resume starts from, read back from the tracking store: nothing lost, nothing executed.

The saved state (`gepa_jupyter/state.json`, core.durability.checkpoint) is the first source. Every candidate
the store holds beyond it, or all of them when the state is missing, damaged or of an older
version (`gepa_state.bin`, a pickle: never read), is rebuilt from what MLflow keeps of each step:
its prompt texts and per-row scores (`prompt_candidates/iteration_N/`), its parents and metric
calls (`gepa_jupyter/candidates.json`, when it is there). A candidate that cannot be rebuilt
refuses the resume with one line naming the missing file: a resume never restarts inside a run
that has candidates, and never numbers a new candidate over a stored one.
"""

import json

from gepa_jupyter.core.durability import checkpoint, liveness
from gepa_jupyter.core.errors import InputError
from gepa_jupyter.core.optimization.steering import USER, origins_of
from gepa_jupyter.core.tracking import artifacts, schema

STATE_PATH = schema.stored(schema.STATE_FILE)
LEGACY_PATH = schema.stored(schema.LEGACY_STATE_FILE)
CANDIDATES_PATH = schema.stored(schema.CANDIDATES_FILE)


def restore(client, mlflow_run, seed_prompts: dict, rows: int) -> checkpoint.Restored:
    """The Restored of a run whose recipe has `seed_prompts` and `rows` validation rows; InputError
    (one line) when a stored candidate cannot be rebuilt."""
    run_id = mlflow_run.info.run_id
    tags = mlflow_run.data.tags
    known = _listed(client, run_id)
    beat = liveness.parse(tags, schema.HEARTBEAT_TAG)
    mark = liveness.parse(tags, schema.CHECKPOINT_TAG)
    restored = checkpoint.Restored(
        run_id=run_id, experiment_id=mlflow_run.info.experiment_id, state=None, candidates=[], listed=len(known),
        usage=beat.get("usage") or {}, elapsed=max(_float(beat.get("elapsed")), known[-1].elapsed if known else 0.0),
        resumes=_int(tags.get(schema.RESUMES_TAG)) + 1)
    metric_steps = {m.step for m in client.get_metric_history(run_id, "eval_score")}
    folders = _step_folders(client, run_id)
    stored = metric_steps | folders | {c.step for c in known}
    state, why = _saved_state(client, run_id, seed_prompts, rows)
    have = len(state.program_candidates) if state is not None else 0
    if stored and max(stored) >= have:
        records = _records(state) if state is not None else []
        by_step = {c.step: c for c in known}
        for step in range(have, max(stored) + 1):
            record, missing = _stored_candidate(client, run_id, step, by_step.get(step), seed_prompts, rows)
            if missing:
                kept = why or f"the saved state ({STATE_PATH}) holds only candidates 0-{have - 1}"
                raise InputError(f"MLflow run {run_id} cannot be resumed without losing candidate {step}: {missing}, "
                                 f"and {kept}. Nothing was changed.")
            records.append(record)
        used = max([_int(mark.get("metric_calls")), _int(beat.get("calls")), *(c.metric_calls for c in known),
                    state.total_num_evals if state is not None else 0])
        iteration = max([_int(mark.get("iteration")) - 1, *(c.iteration - 1 for c in known),
                         state.i if state is not None else -1])
        origins = {c.index: c.origin for c in known if c.origin == USER}
        origins |= origins_of(state) if state is not None else {}
        state = checkpoint.build_state(records, iteration=iteration, metric_calls=used,
                                       trace=state.full_program_trace if state is not None else [], origins=origins)
        restored.source = "stored candidates"
        restored.notices.append(f"MLflow run {run_id}: {why or 'its saved state lacked the newest candidates'}; "
                                f"rebuilt from its {len(records)} stored candidates and their scores.")
    if state is None:
        restored.notices.append(f"MLflow run {run_id} had scored no candidate yet: it starts from the seed.")
        return restored
    kept = [c for c in known if c.index < len(state.program_candidates)]
    restored.state = state
    restored.candidates = checkpoint.candidates_from_state(state, kept)
    restored.metric_calls = int(state.total_num_evals)
    restored.seed_scores = dict(state.prog_candidate_val_subscores[0])
    restored.seed_prompts = dict(state.program_candidates[0])
    restored.row_scores = {c.index: dict(state.prog_candidate_val_subscores[c.index]) for c in restored.candidates}
    restored.metric_steps = metric_steps
    restored.complete_steps = _complete(client, run_id, metric_steps, list(seed_prompts))
    return restored


def _saved_state(client, run_id: str, seed_prompts: dict, rows: int):
    """(GEPAState or None, why not: None when it was read)."""
    raw = artifacts.read_bytes(client, run_id, STATE_PATH)
    if raw is None:
        legacy = schema.LEGACY_STATE_FILE in artifacts.names(client, run_id, schema.ARTIFACT_DIR)
        return None, (f"it was saved by an older gepa-jupyter ({LEGACY_PATH}, a pickle, which is never read: "
                      "loading one can run code)" if legacy else f"its saved state ({STATE_PATH}) is missing")
    try:
        return checkpoint.state_from_json(json.loads(raw), seed_prompts, rows), None
    except (ValueError, UnicodeDecodeError) as e:  # DamagedState and JSON errors are ValueErrors
        return None, f"its saved state ({STATE_PATH}) is damaged ({e})"


def _records(state) -> list:
    return [checkpoint.StoredCandidate(
        prompts=dict(state.program_candidates[i]), parents=list(state.parent_program_for_candidate[i]),
        scores=dict(state.prog_candidate_val_subscores[i]), objective=dict(state.prog_candidate_objective_scores[i]),
        calls_at_discovery=int(state.num_metric_calls_by_discovery[i]),
        next_predictor=int(state.named_predictor_id_to_update_next_for_program_candidate[i]))
        for i in range(len(state.program_candidates))]


def _stored_candidate(client, run_id: str, step: int, listed, seed_prompts: dict, rows: int):
    """(StoredCandidate, None) from MLflow's files of `step`, or (None, what is missing)."""
    folder = schema.iteration_dir(step)
    prompts = dict(listed.prompts) if listed is not None and set(listed.prompts) == set(seed_prompts) else {}
    for name in seed_prompts:
        if name not in prompts:
            raw = artifacts.read_bytes(client, run_id, f"{folder}/{name}.txt")
            if raw is None:
                return None, f"its prompt ({folder}/{name}.txt) is missing"
            prompts[name] = raw.decode("utf-8", "replace")
    if step == 0 and prompts != dict(seed_prompts):
        return None, f"its first candidate ({folder}) is not the run's seed"
    scores = _row_scores(client, run_id, f"{folder}/{schema.EVAL_RESULTS_FILE}", rows)
    if scores is None:
        return None, f"its scores by row ({folder}/{schema.EVAL_RESULTS_FILE}) are missing or damaged"
    objective = dict(listed.scorer_scores) if listed is not None else {}
    if not objective:
        summary = _json(client, run_id, f"{folder}/{schema.SCORES_FILE}")
        per = summary.get("per_scorer") if isinstance(summary, dict) else None
        per = per if isinstance(per, dict) else {}
        objective = {str(k): float(v) for k, v in per.items() if isinstance(v, (int, float))}
    parents = [p for p in (listed.parents if listed is not None else ()) if isinstance(p, int) and 0 <= p < step]
    calls = max(int(listed.metric_calls) - rows, 0) if listed is not None else 0
    return checkpoint.StoredCandidate(prompts=prompts, parents=parents or [None], scores=scores, objective=objective,
                                      calls_at_discovery=calls), None


def _row_scores(client, run_id: str, path: str, rows: int) -> dict | None:
    """{row: score} from a step's eval_results.json (mlflow's table: columns and data), or None."""
    table = _json(client, run_id, path)
    if not isinstance(table, dict) or not isinstance(table.get("columns"), list):
        return None
    try:
        column = table["columns"].index("aggregate_score")
        values = [row[column] for row in table["data"]]
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    if len(values) != rows:
        return None
    scores = {}
    for row, value in enumerate(values):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            scores[row] = float(value)
    return scores if scores else None


def _json(client, run_id: str, path: str):
    try:
        return artifacts.read_json(client, run_id, path)
    except (ValueError, UnicodeDecodeError):
        return None


def _listed(client, run_id: str) -> list:
    """The run's candidates.json (the entries that read back), or []."""
    listed = _json(client, run_id, CANDIDATES_PATH)
    events = []
    for entry in listed if isinstance(listed, list) else []:
        try:
            events.append(checkpoint.candidate_from_json(entry))
        except (TypeError, ValueError, AttributeError):
            continue
    return [e for e in events if isinstance(e.step, int) and isinstance(e.prompts, dict)]


def _step_folders(client, run_id: str) -> set[int]:
    try:
        found = client.list_artifacts(run_id, schema.PROMPT_CANDIDATES_DIR)
    except Exception:
        return set()
    steps = set()
    for entry in found:
        step = schema.step_of(entry.path)
        if entry.is_dir and step is not None:
            steps.add(step)
    return steps


def _complete(client, run_id: str, steps: set, prompt_names: list[str], recent: int = 3) -> set:
    """The steps with an eval_score whose files are there too (the last `recent` checked)."""
    complete = set(steps)
    for step in sorted(steps)[-recent:]:
        names = set(artifacts.names(client, run_id, schema.iteration_dir(step)))
        if not {schema.SCORES_FILE, schema.EVAL_RESULTS_FILE, *(f"{name}.txt" for name in prompt_names)} <= names:
            complete.discard(step)
    return complete


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0
