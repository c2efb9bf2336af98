"""Every name gepa-jupyter writes to or reads from MLflow, defined once: tags, params, metrics, artifacts.

These names are stored: runs already in a tracking store are read with them, so they never change.
Tags under `mlflow.gepa_jupyter.` are machine-only state (MLflow's UI leaves `mlflow.` tags out of
the run page's Tags). `tests/house/test_structure.py` fails on a stored name written anywhere else.
"""

PREFIX = "gepa_jupyter."  # our tags and params
HIDDEN_PREFIX = "mlflow." + PREFIX  # our machine-only tags

# ----- run tags ------------------------------------------------------------------------------------
PROMPT_TAG = PREFIX + "prompt"  # the (first) prompt's name: what marks a run as ours
STATUS_TAG = PREFIX + "status"  # running / paused / finished / stopped / failed
ERROR_TAG = PREFIX + "error"
ENDED_BY_TAG = PREFIX + "ended_by"  # max_metric_calls / max_cost / max_time / user / error (core.inputs.budget)
DIED_TAG = PREFIX + "died"  # set by the sweep on a run whose process died
RESUMES_TAG = PREFIX + "resumes"
RELEASED_TAG = PREFIX + "released"  # the last claim ended with its run
INVALID_PROPOSALS_TAG = PREFIX + "invalid_proposals"
MODEL_FAILURES_TAG = PREFIX + "model_failures"
LOGGING_ERRORS_TAG = PREFIX + "logging_errors"
REGISTERED_PROMPT_TAG = PREFIX + "registered_prompt"
REGISTERED_PROMPTS_TAG = PREFIX + "registered_prompts"
OPTIMIZED_ALIAS_TAG = PREFIX + "optimized_alias"
CURRENT_MODEL_PREFIX = PREFIX + "current."  # + model / reflection_model: the models of the newest start
OWNER_TAG = HIDDEN_PREFIX + "owner"
HEARTBEAT_TAG = HIDDEN_PREFIX + "heartbeat"
CHECKPOINT_TAG = HIDDEN_PREFIX + "checkpoint"
BUDGET_TAG = HIDDEN_PREFIX + "budget"

# ----- run params ----------------------------------------------------------------------------------
CLAIM_PREFIX = PREFIX + "claim."  # + n: the n-th resume's claim


def param(option: str) -> str:
    """The param of a run option or count, e.g. `gepa_jupyter.max_metric_calls`."""
    return PREFIX + option


# ----- trace tags and prompt version tags ----------------------------------------------------------
RUN_ID_TAG = PREFIX + "run_id"  # on traces and on a best prompt's version
ROLE_TAG = PREFIX + "role"  # seed / optimized
SCORE_TAG = PREFIX + "score"
SCORER_SCORE_PREFIX = PREFIX + "score."  # + scorer name
SEED_SCORE_TAG = PREFIX + "seed_score"
CANDIDATE_TAG = PREFIX + "candidate"
REGISTERED_BY_TAG = PREFIX + "registered_by"


def holdout_score_tag(label: str) -> str:
    """`gepa_jupyter.holdout_seed_score` / `gepa_jupyter.holdout_best_score`."""
    return f"{PREFIX}holdout_{label}_score"


# ----- gepa proposal metadata (in memory, between our reflector and the proposal log) ---------------
def proposal_metadata(name: str) -> str:
    return PREFIX + name


# ----- metrics (mlflow's own names) ----------------------------------------------------------------
EVAL_SCORE = "eval_score"  # + .<scorer>, at step N

# ----- artifacts -----------------------------------------------------------------------------------
PROMPT_CANDIDATES_DIR = "prompt_candidates"  # mlflow's GEPA layout: one folder per validation candidate
EVAL_RESULTS_FILE = "eval_results.json"
SCORES_FILE = "scores.json"
ARTIFACT_DIR = "gepa_jupyter"  # what a resume needs
RUN_FILE = "run.json"  # the recipe: seeds, options
DATA_FILE = "data.json"  # the recipe's rows
STATE_FILE = "state.json"  # gepa's state as JSON
LEGACY_STATE_FILE = "gepa_state.bin"  # gepa's pickle, written by older versions: never read
CANDIDATES_FILE = "candidates.json"  # the scores table for watchers and resumes


ITERATION_PREFIX = "iteration_"  # + step: a candidate's folder in PROMPT_CANDIDATES_DIR


def iteration_dir(step: int) -> str:
    """`prompt_candidates/iteration_<step>`: one validation candidate's folder."""
    return f"{PROMPT_CANDIDATES_DIR}/{ITERATION_PREFIX}{step}"


def step_of(folder: str) -> int | None:
    """The step of a candidate's folder name (`iteration_3` -> 3), None for any other name."""
    tail = folder.rstrip("/").rsplit("/", 1)[-1]
    number = tail[len(ITERATION_PREFIX):]
    return int(number) if tail.startswith(ITERATION_PREFIX) and number.isdigit() else None


def stored(name: str) -> str:
    """`gepa_jupyter/<name>`: a file of ARTIFACT_DIR."""
    return f"{ARTIFACT_DIR}/{name}"


def stored_number(text: str | None) -> float | None:
    """A number stored as a param or tag (e.g. max_cost), None where none was stored ("", "None")."""
    if text is None or text in ("", "None"):
        return None
    try:
        return float(text)
    except ValueError:
        return None
