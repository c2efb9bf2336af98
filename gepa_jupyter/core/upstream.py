"""Every private mlflow and gepa API gepa-jupyter relies on, in one place.

Private: an underscore name, or a module outside the package's documented API. Each is one
`Private` in `USES`, with the way we call it; the rest of the package reaches them only through
this module (`from gepa_jupyter.core.upstream import parse_model_uri`, resolved on first use),
so an upgrade that moves one fails tests/house/test_upstream.py, which names it. Importing this module
imports neither mlflow nor gepa.
"""

import importlib
import inspect
import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Private:
    """One private upstream symbol: `module`, the attribute `path` in it ("" for the module itself),
    how we call it (`args` positional arguments and `kwargs` names; `args=None`: not called) and the
    attributes we read on it or its instances (`fields`)."""

    module: str
    path: str = ""
    args: int | None = None
    kwargs: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    why: str = ""

    @property
    def symbol(self) -> str:
        return f"{self.module}.{self.path}" if self.path else self.module

    @property
    def package(self) -> str:
        return self.module.split(".")[0]

    def resolve(self) -> Any:
        """The object; ImportError naming the symbol and the installed version when it is gone."""
        try:
            found = importlib.import_module(self.module)
            for part in filter(None, self.path.split(".")):
                found = getattr(found, part)
        except (ImportError, AttributeError) as e:
            raise ImportError(f"gepa-jupyter needs {self.symbol} ({self.why}), which {self.package} "
                              f"{_version(self.package)} does not have ({e}). Install a version in the range "
                              "gepa-jupyter declares, e.g. pip install --upgrade gepa-jupyter.") from e
        return found

    def problem(self) -> str | None:
        """None when the symbol is there and takes the call we make; else what is wrong, naming it."""
        try:
            found = self.resolve()
        except ImportError as e:
            return str(e)
        where = f"{self.symbol} in {self.package} {_version(self.package)}"
        if self.args is not None:
            try:
                signature = inspect.signature(found)
            except (TypeError, ValueError) as e:
                return f"{where} is not callable as we call it: {e}"
            unnamed = [name for name in self.kwargs if name not in signature.parameters]  # not just **kwargs
            if unnamed:
                return f"{where} no longer has the parameter{'s' * (len(unnamed) > 1)} {', '.join(unnamed)}; " \
                       f"its signature is {signature}"
            extra = 1 if self._is_plain_method() else 0  # called on an instance: self comes first
            try:
                signature.bind(*range(self.args + extra), **{name: None for name in self.kwargs})
            except TypeError as e:
                return f"{where} no longer takes the call we make ({self.args} positional, keywords " \
                       f"{list(self.kwargs)}): {e}; its signature is {signature}"
        missing = [name for name in self.fields if not _has_field(found, name)]
        if missing:
            return f"{where} no longer has {', '.join(missing)}"
        return None

    def _is_plain_method(self) -> bool:
        owner_path, _, name = self.path.rpartition(".")
        if not owner_path:
            return False
        owner = Private(self.module, owner_path).resolve()
        return inspect.isclass(owner) and inspect.isfunction(inspect.getattr_static(owner, name))


def _has_field(found: Any, name: str) -> bool:
    import dataclasses

    if inspect.isclass(found):
        declared = set(getattr(found, "__dataclass_fields__", {}))
        for klass in found.__mro__:
            declared |= set(getattr(klass, "__annotations__", {}))
        return name in declared or hasattr(found, name)
    return hasattr(found, name) or (dataclasses.is_dataclass(found) and name in found.__dataclass_fields__)


def _version(package: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "(not installed)"


_REGISTRY = "mlflow.tracking._model_registry.utils"
_STATE_FIELDS = ("program_candidates", "parent_program_for_candidate", "prog_candidate_val_subscores",
                 "prog_candidate_objective_scores", "num_metric_calls_by_discovery", "full_program_trace",
                 "total_num_evals", "i", "save", "pareto_front_valset", "program_at_pareto_front_valset",
                 "objective_pareto_front", "program_at_pareto_front_objectives", "list_of_named_predictors",
                 "named_predictor_id_to_update_next_for_program_candidate", "num_full_ds_evals", "is_consistent")

USES: dict[str, Private] = {
    # mlflow: the optimizer's internals gepa-jupyter reuses, so it scores and logs as mlflow does
    "create_metric_from_scorers": Private(
        "mlflow.genai.optimize.util", "create_metric_from_scorers", 1,
        why="scores a row as mlflow's optimize_prompts does (mean of the scorers)"),
    "EvaluationResultRecord": Private(
        "mlflow.genai.optimize.types", "EvaluationResultRecord", 0,
        ("inputs", "outputs", "expectations", "score", "trace", "rationales", "individual_scores"),
        why="the per-row record mlflow's eval_fn returns"),
    "extract_eval_scores": Private(  # call_method("extract_eval_scores", optimizer, result)
        "mlflow.genai.optimize", "GepaPromptOptimizer._extract_eval_scores", 1,
        why="the initial and final scores of a gepa result, as mlflow's optimizer reports them"),
    "parse_model_uri": Private(
        "mlflow.metrics.genai.model_utils", "_parse_model_uri", 1,
        why="splits a 'provider:/model' reflection model URI as mlflow's optimizer does"),
    "active_experiment_id": Private(
        "mlflow.tracking.fluent", "_get_experiment_id", 0,
        why="the experiment mlflow.start_run would use"),
    "PredictionContext": Private(
        "mlflow.pyfunc.context", "Context", 0, ("request_id", "is_evaluate"),
        why="marks a traced row as part of an evaluation, as mlflow's harness does"),
    "set_prediction_context": Private(
        "mlflow.pyfunc.context", "set_prediction_context", 1,
        why="sets that context while a traced row runs"),
    # mlflow: reading artifacts without a progress bar, the registry URI without a Spark lookup
    "get_artifact_repo": Private(
        "mlflow.tracking._tracking_service.client", "TrackingServiceClient._get_artifact_repo", 1,
        why="the run's artifact repository, as MlflowClient reads artifacts"),
    "get_artifact_repository": Private(
        "mlflow.store.artifact.artifact_repository_registry", "get_artifact_repository", 1, ("tracking_uri",),
        why="an artifact repository from a run's artifact URI"),
    "download_file": Private(
        "mlflow.store.artifact.artifact_repo", "ArtifactRepository._download_file", 2,
        why="one artifact file, without the tqdm bar download_artifacts draws"),
    "explicit_registry_uri": Private(
        _REGISTRY, "_registry_uri", why="the registry URI set with mlflow.set_registry_uri"),
    "registry_uri_variable": Private(
        _REGISTRY, "MLFLOW_REGISTRY_URI", fields=("get",), why="the MLFLOW_REGISTRY_URI environment variable"),
    "default_registry_uri": Private(
        _REGISTRY, "_get_default_registry_uri_for_tracking_uri", 1,
        why="the registry URI mlflow derives from the tracking URI"),
    # mlflow: setting up a sqlite tracking file once, under a lock (its migration races otherwise)
    "create_sqlalchemy_engine_with_retry": Private(
        "mlflow.store.db.utils", "create_sqlalchemy_engine_with_retry", 1, why="an engine on the tracking file"),
    "all_tables_exist": Private("mlflow.store.db.utils", "_all_tables_exist", 1,
                                why="whether the tracking file is set up"),
    "initialize_tables": Private("mlflow.store.db.utils", "_initialize_tables", 1,
                                 why="sets up the tracking file"),
    # mlflow: modules imported up front against the import-lock deadlock (core.runtime.guards)
    "openai_autolog_module": Private("mlflow.openai.autolog", why="imported by mlflow's evaluation mid-run"),
    "spark_utils_module": Private("mlflow.utils._spark_utils", why="imported by mlflow's registry URI lookup"),
    # mlflow: the registry's limit on a prompt version's text, checked before a run starts
    "max_prompt_length": Private("mlflow.utils.validation", "MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH",
                                 why="the most characters the prompt registry stores per version"),
    # mlflow: where make_judge's judge keeps its model, base URL and headers (models/judges.py routes them)
    "instructions_judge": Private("mlflow.genai.judges.instructions_judge", "InstructionsJudge",
                                  fields=("_model", "_base_url", "_extra_headers"),
                                  why="make_judge's judge, whose model a run routes through its session"),
    # mlflow: the class of scorers made with @scorer (the others may call a model)
    "decorated_scorer_module": Private("mlflow.genai.scorers.base", why="where @scorer's scorer class lives"),
    # gepa: the reflection, sampling and acceptance strategies gepa-jupyter wraps
    "StatelessReflectionLM": Private(
        "gepa.proposer.reflective_mutation.reflection_lm", "StatelessReflectionLM", 3,
        why="gepa's default reflection, wrapped by the variable guard"),
    "ReflectionProposal": Private(
        "gepa.proposer.reflective_mutation.reflection_lm", "ReflectionProposal", 0,
        ("new_texts", "prompts", "raw_lm_outputs"), ("metadata",),
        why="what a reflection strategy returns"),
    "LM": Private("gepa.lm", "LM", 1, why="gepa's litellm-backed reflection model"),
    "IndependentSampling": Private("gepa.strategies.proposal_sampling", "IndependentSampling", 1,
                                   why="several proposals per iteration"),
    "SingleMutationSampling": Private("gepa.strategies.proposal_sampling", "SingleMutationSampling", 0,
                                      why="one proposal per iteration"),
    "StrictImprovementAcceptance": Private("gepa.strategies.acceptance", "StrictImprovementAcceptance", 0,
                                           fields=("should_accept",), why="gepa's default acceptance"),
    "ImprovementOrEqualAcceptance": Private("gepa.strategies.acceptance", "ImprovementOrEqualAcceptance", 0,
                                            fields=("should_accept",), why="acceptance of ties"),
    "CandidateProposal": Private(
        "gepa.proposer.base", "CandidateProposal",
        fields=("candidate", "parent_program_ids", "subsample_indices", "subsample_scores_before",
                "subsample_scores_after"),
        why="what the acceptance criterion and the proposal log read"),
    "GEPAState": Private("gepa.core.state", "GEPAState", 2, ("frontier_type",), fields=_STATE_FIELDS,
                         why="gepa's state: rebuilt by the checkpoint from its JSON, read by the sampling and "
                             "the proposal log"),
    "ValsetEvaluation": Private("gepa.core.state", "ValsetEvaluation", 2, why="the seed's scores a state starts from"),
    "update_pareto_front": Private(  # call_method("update_pareto_front", state, row, score, index, None, None, i)
        "gepa.core.state", "GEPAState._update_pareto_front_for_val_id", 6,
        why="replays gepa's Pareto-front rule when the checkpoint rebuilds a state"),
    "update_objective_front": Private(
        "gepa.core.state", "GEPAState._update_objective_pareto_front", 2,
        why="replays gepa's per-scorer front when the checkpoint rebuilds a state"),
}

PREIMPORTED = tuple(USES[name].module for name in ("openai_autolog_module", "spark_utils_module"))


def call_method(alias: str, instance: Any, *args: Any, **kwargs: Any) -> Any:
    """`instance.<method>(...)` for the private method `USES[alias]` (an ImportError naming it when gone)."""
    USES[alias].resolve()
    return getattr(instance, USES[alias].path.rpartition(".")[2])(*args, **kwargs)


def __getattr__(name: str) -> Any:
    if name in USES:
        return USES[name].resolve()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def require_gepa():
    """The gepa module; without it, mlflow's GepaPromptOptimizer's install hint (an ImportError)."""
    try:
        import gepa
    except ImportError as e:
        requirement = _requirement("gepa") or "gepa"
        versions = ", ".join(re.sub(r"^([<>=!~]+)", r"\1 ", s) for s in requirement[len("gepa"):].split(",") if s)
        raise ImportError(f"GEPA{' ' + versions if versions else ''} is required. Please install it with: "
                          f"`pip install '{requirement}'`") from e  # mlflow's GepaPromptOptimizer's words
    return gepa


def _requirement(name: str) -> str | None:
    """gepa-jupyter's declared requirement on `name` (e.g. 'gepa<0.2,>=0.1.4'), from its metadata."""
    from importlib import metadata

    try:
        declared = metadata.requires("gepa-jupyter") or []
    except metadata.PackageNotFoundError:
        return None
    for line in declared:
        head = line.split(";")[0].replace(" ", "")
        if head.startswith(name) and not head[len(name):len(name) + 1].isalnum() and "extra" not in line:
            specifiers = sorted(head[len(name):].split(","), key=lambda s: not s.startswith(">"))
            return name + ",".join(specifiers)
    return None


def is_decorated_scorer(scorer: Any) -> bool:
    """Whether `scorer` was made with mlflow's @scorer (its class is in mlflow.genai.scorers.base)."""
    return type(scorer).__module__ == USES["decorated_scorer_module"].module


def artifact_repository(client, run_id: str):
    """The run's artifact repository: the client's own (cached), else one built from the run's URI."""
    tracking = getattr(client, "_tracking_client", None)
    if tracking is not None and hasattr(tracking, "_get_artifact_repo"):
        return call_method("get_artifact_repo", tracking, run_id)
    build = USES["get_artifact_repository"].resolve()
    return build(client.get_run(run_id).info.artifact_uri, tracking_uri=client.tracking_uri)


def download_file(repository, path: str, local: str) -> None:
    """One artifact file to `local`, without a progress bar."""
    call_method("download_file", repository, path, local)


def registry_uri_without_spark(tracking_uri: str | None) -> str | None:
    """mlflow.get_registry_uri()'s answer when no Spark session exists (it looks for none)."""
    explicit = USES["explicit_registry_uri"].resolve() or USES["registry_uri_variable"].resolve().get()
    return explicit or USES["default_registry_uri"].resolve()(tracking_uri)
