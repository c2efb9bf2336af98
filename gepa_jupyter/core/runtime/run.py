"""OptimizationRun: one optimization in a background thread, inside one MLflow run.

`start_run(spec)` returns at once; the run's thread imports what it needs, registers the seed
prompt, creates the MLflow run (with the tracking client only, so whatever experiment is
active in the notebook does not matter), optimizes, scores the held-out rows and registers
the best prompt. `scores` fills in while it goes on; `stop()` ends it within a second or two
(the evaluation in flight is abandoned); every thread is a daemon, so a run never keeps a
script, a test or a kernel alive, and at exit a running run is stopped and ended KILLED.
`pause()` / `resume()` hold it between evaluations; `add_candidate()` puts the user's own prompt
into gepa's pool (core.optimization.steering), or, once the run ended, scores and records it.
"""

import atexit
import concurrent.futures
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from gepa_jupyter.core.durability import claims, liveness, recipe
from gepa_jupyter.core.durability.checkpoint import Checkpoint
from gepa_jupyter.core.errors import Halt, ModelProcessDied, RunConflictError, RunStopped
from gepa_jupyter.core.events import EventHub, StatusEvent, best_candidate, prompts_of
from gepa_jupyter.core.inputs.budget import RunLimits
from gepa_jupyter.core.inputs.prompts import join_sections, user_candidate
from gepa_jupyter.core.insight.frame import candidates_frame, usage_totals
from gepa_jupyter.core.optimization.steering import USER, Request, add_to_state
from gepa_jupyter.core.runtime import quiet, redact
from gepa_jupyter.core.tracking import registry, schema
from gepa_jupyter.core.tracking.recorder import RunRecorder, end_tags

OPTIMIZED_ALIAS = registry.OPTIMIZED_ALIAS
STATUSES = ("running", "finished", "stopped", "failed")
STOP_GRACE = 1.5  # seconds a stopped run's thread gets to halt before the run is ended without it
WAIT_SLICE = 0.2  # seconds wait() blocks at a time (Ctrl-C is seen between slices)
EXIT_WAIT = 3.0  # seconds the interpreter's exit waits for a stopped run to end its MLflow run
_active_lock = threading.Lock()
_current: "OptimizationRun | None" = None
_exit_hook = False


@dataclass
class RunSpec:
    """Everything a run needs, already validated and resolved.

    `options` holds every run option of `core.options` (validated, defaults filled): the run reads
    the simple ones (`max_metric_calls`, `workers`, `traces`, `random_seed`, `experiment`, ...) from
    there, and logs each scalar one as an MLflow param, so a new option needs no plumbing.
    """

    seed_prompts: dict[str, str]  # prompt name -> seed template, in program order
    program: Any  # core.evaluation.programs: (candidate prompts, inputs) -> output
    train_records: list[dict]
    validation_records: list[dict]
    holdout_records: list[dict]
    scorers: list
    reflection_model: Any  # URI string or callable (prompt) -> str
    options: dict
    seed_prompt_uris: dict[str, str] = field(default_factory=dict)  # registered versions given as seeds
    gepa_kwargs: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)  # extra MLflow params (never secrets)
    read_usage: Callable[[], dict] | None = None  # model usage so far, by role
    on_open: Callable[[], None] | None = None  # when the run starts (before any model call)
    on_close: Callable[[], None] | None = None
    resume: Any = None  # core.durability.checkpoint.Restored: continue that MLflow run from its saved gepa state
    notices: list = field(default_factory=list)  # what the checks found for the user (e.g. runs whose process died)
    run_notices: list = field(default_factory=list)  # what the run's views show too (e.g. a model without a price)

    @property
    def max_metric_calls(self) -> int:
        return self.options["max_metric_calls"]


class OptimizationRun:
    """One optimization: watch `scores`, `status`, `activity` and events; `stop()` and `wait()` it."""

    def __init__(self, spec: RunSpec):
        from gepa_jupyter.core.optimization.optimizer import StreamingGepaOptimizer

        self.spec = spec
        self.key = uuid.uuid4().hex[:8]  # names this run's threads: gepa-jupyter-<key>...
        self.seed_prompts = dict(spec.seed_prompts)
        self.prompt_names = list(self.seed_prompts)
        self.prompt_name = self.prompt_names[0]
        self.status = "running"
        self.error: str | None = None
        self.exception: BaseException | None = None
        self.traceback: str | None = None
        self.result: Any = None  # mlflow's PromptOptimizerOutput
        self.holdout_scores: dict[str, dict] = {}
        self.optimized_alias = False
        self.started_at = time.time()
        self.ended_at: float | None = None
        self.events = EventHub()
        self.log = quiet.RunLog()
        self.ended_by: str | None = None  # core.inputs.budget.ENDED_BY: what ended the run, once it ended
        self.limits = RunLimits(spec.options.get("max_cost"), spec.options.get("max_time"),
                                spent=lambda: usage_totals(self._usage_safely())[1], clock=time.time)
        self.limits.start()  # a resume's limits count from the resume, as its usage (and so its cost) does
        self.optimizer = StreamingGepaOptimizer(
            reflection_model=spec.reflection_model,
            max_metric_calls=spec.max_metric_calls,
            gepa_kwargs={"seed": _gepa_seed(spec), **spec.gepa_kwargs},
            valset=spec.validation_records,
            usage=spec.read_usage,
            gepa_tracking=False,
            enforce_budget=True,
            thread_name=f"{quiet.THREAD_PREFIX}{self.key}",
            limits=self.limits,
        )
        self.optimizer.log_to(_GepaLines(self.log))
        self.optimizer.subscribe(self.events.emit)
        self.checkpoint = Checkpoint(spec.resume)  # gepa's state, kept in MLflow
        self.optimizer.keep_state_in(self.checkpoint)
        self.checkpoint.prefill(self.optimizer)
        self.started_at -= spec.resume.elapsed if spec.resume else 0.0
        self.heartbeat: liveness.Heartbeat | None = None
        resumed = (spec.resume.run_id, spec.resume.experiment_id) if spec.resume else (None, None)
        self.recorder = RunRecorder(*resumed)  # the MLflow run's bookkeeping; a resumed run is known at once
        self.seed_prompt_uris: dict[str, str] = dict(spec.seed_prompt_uris)
        self.registered_versions: dict[str, int] = {}  # prompt name -> version of its best text
        self._phase = "starting"
        self._done = threading.Event()
        self._optimized = threading.Event()  # the run's thread is past gepa's loop (the stop watchdog's cue)
        self._finished = threading.Lock()  # _finish runs once
        self._thread: threading.Thread | None = None
        self._late = threading.Lock()  # one user candidate scored after the run's end at a time

    # ----- what users read -------------------------------------------------------------
    @property
    def run_id(self) -> str | None:
        return self.recorder.run_id

    @property
    def experiment_id(self) -> str | None:
        return self.recorder.experiment_id

    @property
    def tracking_uri(self) -> str | None:
        return self.recorder.tracking_uri

    @property
    def client(self):
        """The MlflowClient the run writes with (None until its thread connected)."""
        return self.recorder.client

    @property
    def scores(self):
        """A DataFrame, one row per validation candidate scored so far."""
        return candidates_frame(list(self.optimizer.candidates), self.prompt_names)

    @property
    def examples(self):
        """A DataFrame, one row per (candidate, validation example): the variables, the expected
        output, the model's output, the score and each scorer's score and rationale."""
        return self.optimizer.example_log.table().frame()

    @property
    def proposals(self):
        """A DataFrame, one row per proposal of the reflection, accepted or not: its parent, the
        minibatch rows and feedback it was made from, the text, the outcome and where it came from."""
        return self.optimizer.proposal_log.frame()

    @property
    def candidates(self):
        return list(self.optimizer.candidates)

    @property
    def best(self):
        """The best CandidateEvent so far (None before the seed is scored)."""
        return best_candidate(self.optimizer.candidates)

    @property
    def best_prompts(self) -> dict[str, str]:
        """The best candidate's prompt texts by name; the seeds until a candidate beats them."""
        return prompts_of(self.best, self.seed_prompts)

    @property
    def best_prompt(self) -> str:
        """The best prompt text (with several prompts: their `### name` sections)."""
        return join_sections(self.best_prompts)

    @property
    def seed_prompt(self) -> str:
        """The seed prompt text (with several prompts: their `### name` sections)."""
        return join_sections(self.seed_prompts)

    @property
    def seed_prompt_uri(self) -> str | None:
        return self.seed_prompt_uris.get(self.prompt_name)

    @property
    def seed_score(self) -> float | None:
        return self.optimizer.candidates[0].score if self.optimizer.candidates else None

    @property
    def metric_calls(self) -> int:
        return self.optimizer.metric_calls

    @property
    def max_metric_calls(self) -> int:
        return self.spec.max_metric_calls

    @property
    def validation_size(self) -> int:
        return len(self.spec.validation_records)

    @property
    def activity(self) -> str:
        """What the run is doing now: 'registering the seed prompt', 'scoring the seed', ..."""
        if self.done:
            return self.status
        if self.paused:
            return "paused"
        return self.optimizer.activity if self._phase == "optimizing" else self._phase

    @property
    def invalid_proposals(self) -> int:
        """Proposals discarded because they dropped or invented a {{variable}}."""
        return self.optimizer.invalid_proposals

    @property
    def usage(self) -> dict:
        """Model calls, cache hits, tokens and cost so far, by role (empty without the models layer)."""
        return self.spec.read_usage() if self.spec.read_usage else {}

    @property
    def notices(self) -> list[str]:
        """What the run told up front (e.g. a model with no known price, which max_cost cannot count)."""
        return list(self.spec.run_notices)

    @property
    def max_cost(self) -> float | None:
        return self.spec.options.get("max_cost")

    @property
    def max_time(self) -> float | None:
        return self.spec.options.get("max_time")

    @property
    def log_lines(self) -> list[str]:
        """gepa's log and whatever third-party code printed, logged or warned on the run's threads."""
        return [redact.redact(line) for line in self.log.lines]

    @property
    def elapsed(self) -> float:
        return (self.ended_at or time.time()) - self.started_at

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def models(self) -> dict[str, str]:
        """model / reflection_model -> what this run (or resume) uses (as tagged on the MLflow run)."""
        return {k[len(schema.CURRENT_MODEL_PREFIX):]: v for k, v in model_tags(self.spec.options).items()}

    @property
    def registered_prompt_uri(self) -> str | None:
        """The best prompt's version (the first prompt's, with several: see registered_prompt_uris)."""
        return self.registered_prompt_uris.get(self.prompt_name)

    @property
    def registered_prompt_uris(self) -> dict[str, str]:
        return {name: f"prompts:/{name}/{version}" for name, version in self.registered_versions.items()}

    @property
    def registered_version(self) -> int | None:
        return self.registered_versions.get(self.prompt_name)

    def subscribe(self, listener: Callable[[Any], None]) -> Callable[[], None]:
        """Call `listener(event)` for each CandidateEvent, BudgetEvent, ProposalEvent, StatusEvent."""
        return self.events.subscribe(listener)

    def stop(self) -> None:
        """Stop now: the evaluation in flight is abandoned, the best candidate so far is kept and
        registered; `status` leaves 'running' within about two seconds whatever the model does."""
        if self.done or self.optimizer.stop_requested:
            return
        self.optimizer.stop()
        if self.status == "running":  # at once: no model call starts after this; what MLflow gets follows
            self.status = "stopped"
            self.optimizer.set_activity("stopping: ending the MLflow run")
        try:
            threading.Thread(target=self._watch_stop, name=f"{quiet.THREAD_PREFIX}{self.key}-stop",
                             daemon=True).start()
        except RuntimeError:  # interpreter shutdown (Python 3.12+ starts no thread then): _stop_at_exit watches
            self.log.add("gepa-jupyter", "stopping at interpreter exit")

    @property
    def paused(self) -> bool:
        """True between pause() and resume() while the run goes on."""
        return self.optimizer.steering.paused and not self.done

    def pause(self) -> None:
        """Hold the run before its next evaluation or reflection (the one in flight ends first): no
        model call until `resume()`. The MLflow run stays open, its heartbeat says paused; `stop()` works."""
        if not self.done:
            self.optimizer.steering.pause()
            self._beat_now()

    def resume(self) -> None:
        """Continue a paused run. (`gepa_jupyter.resume(run_id)` is another thing: it continues a
        durable run whose process ended.)"""
        self.optimizer.steering.resume()
        self._beat_now()

    def add_candidate(self, prompt: str | dict[str, str]) -> concurrent.futures.Future:
        """Score your own prompt on the validation set and add it to the pool with origin "user".

        `prompt`: a text, `### name` sections or `{name: text}` (prompts left out keep the best
        candidate's text); it must keep the seed's `{{variables}}` (InputError before any call).
        While the run goes on, gepa's thread scores it before its next iteration (counted in the
        metric calls; later proposals may descend from it); once the run ended, it is scored then
        and logged to the same, ended MLflow run. Returns a Future of its CandidateEvent."""
        prompts = user_candidate(prompt, self.seed_prompts, self.best_prompts)
        request = None if self.done else self.optimizer.steering.submit(prompts)
        if request is None:
            request = Request(prompts)
            self._score_late_on_thread([request])
        return request.future

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run ended (or `timeout` seconds pass); True when it has ended. Ctrl-C
        (KeyboardInterrupt) while waiting stops the run, as the magic does, then is raised again."""
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:  # in slices: a signal reaching another thread still interrupts this one within 0.2 s
                left = WAIT_SLICE if deadline is None else min(WAIT_SLICE, deadline - time.monotonic())
                if left <= 0 or self._done.wait(left):
                    return self._done.is_set()
        except KeyboardInterrupt:
            self.stop()
            self._done.wait(STOP_GRACE + 1.0)
            raise

    def register_best(self, force: bool = True, tags: dict | None = None, improved_only: bool = False) -> int | None:
        """Register the best prompt(s) now (after the run); `force` sets the alias even when the best
        did not beat the seed; `improved_only` registers nothing unless it did; `tags` are added to the
        versions' tags. Returns the (first) version.

        With several prompts each one is registered under its own name, and only those the best
        candidate changed get a new version and the alias."""
        from mlflow import MlflowClient

        client = self.client or MlflowClient()
        aliased = []
        best = self.best
        for name, text in self.best_prompts.items():
            unchanged = text == self.seed_prompts[name]
            version, alias = registry.register_best(
                client, name, text, run_id=self.run_id, best=best if not unchanged else None,
                seed_score=self.seed_score, seed_version=_version_of(self.seed_prompt_uris.get(name)),
                holdout=self.holdout_scores, force=force and not unchanged, extra_tags=tags,
                improved_only=improved_only)
            if version is not None:
                self.registered_versions[name] = version
            aliased.append(alias)
        self.optimized_alias = any(aliased)
        return self.registered_version

    def __repr__(self):
        best = self.best
        score = f", best {best.score:.3f} (seed {self.seed_score:.3f})" if best else ""
        count = len(self.optimizer.candidates)
        return (f"<OptimizationRun {self.status}: {count} candidate{'' if count == 1 else 's'}, "
                f"{min(self.metric_calls, self.max_metric_calls)}/{self.max_metric_calls} metric calls{score}, "
                f"run_id={self.run_id}>")

    # ----- lifecycle ---------------------------------------------------------------------
    def _start(self) -> None:
        self._thread = threading.Thread(target=self._work, name=f"{quiet.THREAD_PREFIX}{self.key}", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        status = "failed"
        with quiet.capture(self.key, self.log):
            try:
                if self.spec.on_open:
                    self.spec.on_open()
                self._start_scoring_the_seed()
                self._prepare_mlflow()
                stopped = self.optimizer.stop_requested or self._optimize()
                if self.spec.holdout_records and not stopped and self.limits.reason is None:
                    stopped = self._score_holdout()
                if stopped:
                    self.status = "stopped"
                self._set_phase("registering the best prompt")
                self.register_best(force=False, improved_only=self.spec.options.get("register") != "always")
                status = "stopped" if stopped else "finished"
            except Halt as halt:  # stopped before the optimization began, or a model's process died
                if halt.reason == "failed":
                    self._failed(halt)
                else:
                    status = "stopped"
            except BaseException as e:  # noqa: BLE001 - the thread must always end honestly
                self._failed(e)
            finally:
                self._finish(status)

    def _failed(self, error: BaseException) -> None:
        """Keep what ended the run: a model process's death is told as its message alone."""
        self.exception = error
        if isinstance(error, ModelProcessDied):
            self.error = redact.redact(str(error))
            if error.log:
                self.log.add("model process", error.log)
        else:
            self.error = redact.redact(f"{type(error).__name__}: {error}")
        self.traceback = redact.redact(traceback.format_exc())

    def _set_phase(self, phase: str) -> None:
        self._phase = phase
        self.optimizer.set_activity(phase)

    def _prepare_mlflow(self) -> None:
        """Imports, the seed's registered version, the MLflow run and its params (this thread)."""
        self._halt_if_stopped()  # a run stopped while starting creates no store (nor tables) after its end
        self._set_phase("opening the MLflow store")  # imports (done already after %load_ext) and a new store's tables
        from gepa_jupyter.core.runtime.guards import import_litellm

        import_litellm()  # before gepa, which imports it: offline, with its bundled price map
        import mlflow  # noqa: F401
        from mlflow import MlflowClient  # noqa: F401

        import gepa  # noqa: F401 - imported here so the first iteration does not pay for it

        quiet.attach_filters()  # the handlers those imports added
        client = self.recorder.connect()  # a new sqlite file: set up under a lock
        self._halt_if_stopped()
        self._set_phase("registering the seed prompt")
        for name, template in self.seed_prompts.items():
            if name not in self.seed_prompt_uris:
                self.seed_prompt_uris[name] = registry.register_seed(client, name, template)
        self._halt_if_stopped()
        if self.spec.resume is not None:
            self._set_phase("reopening the MLflow run")
            self.checkpoint.reopen(client, self.spec)
            self.recorder.set_tags(model_tags(self.spec.options))  # the params keep the first start's
        else:
            self._create_mlflow_run()
        self.optimizer.write_to(self.run_id, client)
        assert self.run_id is not None  # reopened or created just above
        self.heartbeat = liveness.Heartbeat(client, self.run_id, self._progress,
                                            f"{quiet.THREAD_PREFIX}{self.key}-heartbeat").start()

    def _create_mlflow_run(self) -> None:
        """A new MLflow run with the options as params, and what a resume needs (core.durability.recipe)."""
        self._set_phase("creating the MLflow run")
        tags = {schema.PROMPT_TAG: self.prompt_name, schema.STATUS_TAG: "running",
                schema.BUDGET_TAG: str(self.max_metric_calls), **model_tags(self.spec.options)}
        params = {"optimizer": "StreamingGepaOptimizer", "num_prompts": len(self.prompt_names),
                  "num_training_samples": len(self.spec.train_records)}
        ours = {k: v for k, v in self.spec.options.items() if v is None or isinstance(v, (bool, int, float, str))}
        ours |= {"prompt_uri": ",".join(self.seed_prompt_uris.values()), "num_prompts": len(self.prompt_names),
                 "scorers": ",".join(s.name for s in self.spec.scorers),
                 "num_validation_rows": len(self.spec.validation_records),
                 "num_holdout_rows": len(self.spec.holdout_records)} | self.spec.params
        params |= {schema.param(k): v for k, v in ours.items()}
        run_id = self.recorder.create(self.spec.options["experiment"], run_name(self.prompt_names, self.spec.options),
                                      tags, params)
        recipe.save(self.client, run_id, self.spec)

    def _progress(self) -> dict:
        """What the heartbeat tells watchers between candidates."""
        return {"calls": self.metric_calls, "budget": self.max_metric_calls, "candidates": len(self.candidates),
                "activity": self.activity[:200], "status": "paused" if self.paused else "running",
                "validation": self.validation_size, "usage": self._usage_safely(),
                "elapsed": round(self.elapsed, 1)}

    def _halt_if_stopped(self) -> None:
        if self.optimizer.stop_requested:
            raise RunStopped()

    def _new_evaluator(self, stop: threading.Event | None = None):
        from gepa_jupyter.core.evaluation.evaluator import Evaluator

        return Evaluator(self.spec.program, self.spec.scorers, workers=self.spec.options["workers"],
                         traces=self.spec.options["traces"], stop=stop or self.optimizer.stop_event,
                         name=f"{quiet.THREAD_PREFIX}{self.key}", experiment_id=self.experiment_id, run_id=self.run_id)

    def _start_scoring_the_seed(self) -> None:
        """Start the first-row check and the seed's validation rows now, while mlflow is imported and
        the MLflow run prepared (seconds in a fresh kernel): the first candidate row comes that much
        sooner. Not with traces (they go to the run), a predict_fn (its prompts are swapped per batch) or
        judges (each is tried on one row before the seed's rows spend anything: _check_program)."""
        from gepa_jupyter.core.inputs.scorers import may_call_a_model

        if (self.spec.options["traces"] != "off" or self.spec.resume is not None
                or getattr(self.spec.program, "swap", None) is not None
                or any(may_call_a_model(s) for s in self.spec.scorers)):
            return
        evaluator = self._evaluator = self._new_evaluator()
        record, seed = self.spec.train_records[0], dict(self.seed_prompts)
        rows = self.spec.validation_records or self.spec.train_records

        # the seed's rows only once the model answered: a model failing at once spends nothing
        def check_then_prefetch():
            output = self.spec.program(seed, record["inputs"])
            evaluator.prefetch(seed, rows)
            return output

        self._early_check = evaluator.pool.submit(check_then_prefetch)

    def _optimize(self) -> bool:
        """Run gepa; True when it was stopped."""
        if getattr(self, "_evaluator", None) is None:
            self._evaluator = self._new_evaluator()
        self._evaluator.experiment_id, self._evaluator.run_id = self.experiment_id, self.run_id
        swap = getattr(self.spec.program, "swap", None)
        if swap is not None:
            swap.install()
        try:
            try:
                self._check_program()
            except RunStopped:
                return True
            self._phase = "optimizing"
            self.result = self.optimizer.optimize(self._evaluator, self.spec.train_records,
                                                  dict(self.seed_prompts), enable_tracking=True)
        finally:
            self._optimized.set()
            if swap is not None:
                swap.uninstall()
        if self.optimizer.failure is not None:  # what was scored is logged, then the run fails
            self._log_run_metrics()
            raise self.optimizer.failure
        stopped = self.optimizer.halted == "stopped"
        if stopped:
            self.status = "stopped"  # at once; what follows (MLflow, registry) may take a moment
        self._log_run_metrics()
        return stopped

    def _check_program(self) -> None:
        """One call on the first row with the seed, as mlflow does before optimizing: a model that
        fails from the start fails the run at once instead of scoring its error on every row."""
        from gepa_jupyter.core.evaluation.pool import call_abandonably, wait_all
        from gepa_jupyter.core.inputs.scorers import check_judges, may_call_a_model

        self._set_phase("checking the model on one row")
        record = self.spec.train_records[0]
        early = getattr(self, "_early_check", None)
        try:
            if early is not None:  # started with the seed's rows (_start_scoring_the_seed)
                output = wait_all([early], self.optimizer.stop_event)[0]
            else:
                output = call_abandonably(self.spec.program, dict(self.seed_prompts), record["inputs"],
                                          stop=self.optimizer.stop_event, name=f"{quiet.THREAD_PREFIX}{self.key}-check")
        except Exception as e:
            raise RuntimeError(f"Failed to run the prediction function on the first row before optimizing: "
                               f"{type(e).__name__}: {e}") from e
        if any(may_call_a_model(s) for s in self.spec.scorers):
            self._set_phase("checking the judges on one row")
            call_abandonably(check_judges, self.spec.scorers, record, output,
                             stop=self.optimizer.stop_event, name=f"{quiet.THREAD_PREFIX}{self.key}-judges")
        swap = getattr(self.spec.program, "swap", None)
        unused = [name for name in self.prompt_names if swap is not None and name not in swap.used]
        if unused and swap is not None:  # mlflow only warns; its budget would go to a prompt that changes nothing
            raise RuntimeError(
                f"The predict_fn never formatted the prompt{'s' if len(unused) > 1 else ''} "
                f"{', '.join(map(repr, unused))} (it read {sorted(swap.used) or 'none'}): load each prompt by name "
                "inside predict_fn (mlflow.genai.load_prompt('prompts:/<name>@latest')) and call .format(), "
                "or optimize only the prompts it uses.")

    def _log_run_metrics(self) -> None:
        """What mlflow's optimize_prompts logs for the run: initial and final scores."""
        result = self.result
        metrics = {}
        for label, score, per in (("initial", result.initial_eval_score, result.initial_eval_score_per_scorer),
                                  ("final", result.final_eval_score, result.final_eval_score_per_scorer)):
            if score is not None:
                metrics[f"{label}_eval_score"] = score
            metrics |= {f"{label}_eval_score.{k}": v for k, v in (per or {}).items()}
        self.recorder.log_metrics(metrics)

    def _score_holdout(self) -> bool:
        """Score the seed and the best prompt on the held-out rows, log and keep both; True if stopped."""
        from gepa_jupyter.core.tracking.candidates import summarize

        scores = {}
        try:
            for label, prompts in (("seed", self.seed_prompts), ("best", self.best_prompts)):
                self.optimizer.steering.hold()  # paused: no model call until resumed (RunStopped if stopped)
                aggregate, per_scorer = summarize(self._evaluator(dict(prompts), self.spec.holdout_records))
                scores[label] = {"score": aggregate, **per_scorer}
        except RunStopped:
            return True
        self.holdout_scores = scores
        metrics = {f"holdout_{label}_score": s["score"] for label, s in scores.items()}
        metrics |= {f"holdout_{label}_score.{k}": v
                    for label, s in scores.items() for k, v in s.items() if k != "score"}
        self.recorder.log_metrics(metrics)
        return False

    def _watch_stop(self) -> None:
        """After stop(): if the run's thread has not halted within STOP_GRACE seconds (stuck in a
        call that cannot be abandoned), end the run without it."""
        deadline = time.monotonic() + STOP_GRACE
        while time.monotonic() < deadline:
            if self.done or self.optimizer.halted or self._optimized.is_set():
                return
            time.sleep(0.05)
        if not (self.done or self.optimizer.halted or self._optimized.is_set()):
            self.log.add("gepa-jupyter", "the run's thread did not halt in time; ending the run without it")
            self._finish("stopped")

    def _finish(self, status: str) -> None:
        """End the run once: status, tags, the MLflow run's end, the models' clean-up, `done`.

        When the stop watchdog ended the run first, the run's thread only ends an MLflow run it
        created since."""
        global _current
        if not self._finished.acquire(blocking=False):
            self._end_mlflow_run(self.status)
            return
        if status == "finished" and self.optimizer.stop_requested:
            status = "stopped"  # stop() said so at once; the status never goes back on it
        self.status = status
        self.ended_by = self._ended_by(status)
        self.ended_at = time.time()  # before the last heartbeat: the store keeps the run's own elapsed time
        evaluator = getattr(self, "_evaluator", None)
        if evaluator is not None:
            evaluator.close()
        if self.heartbeat is not None:
            self.heartbeat.stop()
        self._end_mlflow_run(status)
        self._release()
        self.checkpoint.close()
        with _active_lock:
            if _current is self:
                _current = None
        if self.spec.on_close:
            try:
                self.spec.on_close()
            except Exception as e:
                self.log.add("gepa-jupyter", f"closing the run's models failed: {type(e).__name__}: {e}")
        self._phase = status
        self._done.set()
        self.events.emit(StatusEvent(status, self.error))
        leftovers = self.optimizer.leftovers + self.optimizer.steering.close()
        if leftovers:  # added while the run was ending: scored now
            self._score_late_on_thread(leftovers)

    # ----- the user's candidates after the run's end ----------------------------------------------------
    def _beat_now(self) -> None:
        """A heartbeat at once (pause / continue), off the caller's thread."""
        if self.heartbeat is not None and not self.done:
            self.heartbeat.beat_soon()

    def _score_late_on_thread(self, requests: list) -> None:
        threading.Thread(target=self._score_late, args=(requests,), daemon=True,
                         name=f"{quiet.THREAD_PREFIX}{self.key}-late").start()

    def _score_late(self, requests: list) -> None:
        """After the run's end (its thread is gone: this one writes its state now), score each request."""
        self._done.wait()
        with self._late, quiet.capture(self.key, self.log):
            for request in requests:
                try:
                    request.future.set_result(self._add_late(request.prompts))
                except BaseException as e:  # noqa: BLE001 - the Future carries it to the user
                    request.future.set_exception(e)

    def _add_late(self, prompts: dict[str, str]):
        """Score a user candidate on the validation set after the run, add it to the candidates and the
        saved gepa state, and log it to the (ended) MLflow run like any candidate; its CandidateEvent."""
        from gepa_jupyter.core.events import CandidateEvent
        from gepa_jupyter.core.tracking.candidates import log_candidate, summarize

        if self.run_id is None or not self.optimizer.candidates:
            raise RuntimeError(f"This run ended ({self.status}) before its seed was scored: there is no pool to "
                               "add a candidate to. Start a new run.")
        swap = getattr(self.spec.program, "swap", None)  # a predict_fn reads candidates through PromptVersion
        if swap is not None and current_optimization() is not None:
            raise RunConflictError("Another optimization is running in this process: its predict_fn and this run's "
                                   "would read each other's candidates. Add the candidate once it has ended.")
        if self.spec.on_open:
            self.spec.on_open()
        evaluator = self._new_evaluator(stop=threading.Event())
        if swap is not None:
            swap.install()
        try:
            records = evaluator(dict(prompts), self.spec.validation_records)
        finally:
            if swap is not None:
                swap.uninstall()
            evaluator.close()
            if self.spec.on_close:
                self.spec.on_close()
        aggregate, per_scorer = summarize(records)
        scores = {i: float(r.score) for i, r in enumerate(records)}
        outputs = {i: r.outputs for i, r in enumerate(records)}
        state = self.checkpoint.state
        if state is not None:
            per_row = [r.individual_scores for r in records]
            add_to_state(state, prompts, scores, outputs,
                         {i: dict(o) for i, o in enumerate(per_row)} if any(per_row) else None, len(records))
        self.optimizer.count_calls(len(records))
        known = self.optimizer.candidates
        candidate = CandidateEvent(
            index=len(known), iteration=max(c.iteration for c in known), parents=(), score=float(aggregate),
            scorer_scores=per_scorer, prompts=dict(prompts), metric_calls=self.metric_calls, elapsed=self.elapsed,
            new_best=aggregate > max(c.score for c in known), step=len(known), usage=self._usage_safely(),
            validated_at=time.time(), origin=USER)
        self.optimizer.add_candidate(candidate, list(scores), records, scores, outputs)
        log_candidate(candidate.step, candidate.prompts, records, aggregate, per_scorer, run_id=self.run_id,
                      client=self.client)
        self.checkpoint.store_late(self.client, self.run_id, state, self.optimizer.candidates)
        self.log.add("gepa-jupyter", f"your candidate {candidate.index} scored {aggregate:.3f} after the run's end")
        return candidate

    def _ended_by(self, status: str) -> str:
        """What ended the run (core.inputs.budget.ENDED_BY): a limit, the user's stop, or an error."""
        if status == "failed":
            return "error"
        if status == "stopped" and self.limits.reason is None:
            return "user"
        return self.limits.reason or "max_metric_calls"

    def _end_mlflow_run(self, status: str) -> None:
        """Tag the MLflow run with how it ended and end it (once: see RunRecorder.end)."""
        if not self.recorder.open:
            return
        tags = end_tags(status, self.optimizer.invalid_proposals)
        tags[schema.ENDED_BY_TAG] = self.ended_by or self._ended_by(status)
        failures = {role: int(u.get("failures", 0)) for role, u in self._usage_safely().items()}
        if any(failures.values()):  # e.g. a reflection model down all run: gepa skips, the run "finishes"
            tags[schema.MODEL_FAILURES_TAG] = ", ".join(f"{r}: {n}" for r, n in failures.items() if n)
        if self.optimizer.logging_errors:
            tags[schema.LOGGING_ERRORS_TAG] = redact.redact("\n".join(self.optimizer.logging_errors))[:5000]
        if self.error:
            tags[schema.ERROR_TAG] = self.error[:5000]
        if self.registered_prompt_uri:
            tags[schema.REGISTERED_PROMPT_TAG] = self.registered_prompt_uri
            tags[schema.OPTIMIZED_ALIAS_TAG] = str(self.optimized_alias).lower()
        if len(self.registered_prompt_uris) > 1:
            tags[schema.REGISTERED_PROMPTS_TAG] = ",".join(self.registered_prompt_uris.values())
        problem = self.recorder.end(status, tags, self.log)
        if problem and self.error is None:
            self.error, self.status = redact.redact(problem), "failed"

    def _release(self) -> None:
        """End this resume's claim on the MLflow run (core.durability.claims): another process may continue it now."""
        claim = getattr(self.spec.resume, "claim", None)
        if claim is not None:
            from mlflow import MlflowClient

            claims.release(self.client or MlflowClient(), claim)
            self.spec.resume.claim = None

    def _usage_safely(self) -> dict:
        try:
            return {k: v for k, v in self.usage.items() if isinstance(v, dict)}
        except Exception:
            return {}


class _GepaLines:
    """gepa's logger lines, into the run's log."""

    def __init__(self, log: quiet.RunLog):
        self.log = log

    def append(self, line: str) -> None:
        self.log.add("gepa", line)


def _gepa_seed(spec: RunSpec) -> int:
    """gepa's random seed: the run's, and on the n-th resume another one derived from it (gepa keeps its
    random generator outside its state, so a resume would otherwise draw the same minibatches again)."""
    seed = int(spec.options["random_seed"])
    return seed if spec.resume is None else seed + 1_000_003 * int(spec.resume.resumes)


def model_tags(options: dict) -> dict[str, str]:
    """The tags naming the models a run (or its newest resume) uses; MLflow params cannot change."""
    tags = {}
    for name in ("model", "reflection_model"):
        value = options.get(name)
        if value is not None:
            text = value if isinstance(value, str) else f"<{getattr(value, '__name__', type(value).__name__)}>"
            tags[schema.CURRENT_MODEL_PREFIX + name] = redact.redact(text)[:5000]
    return tags


def _version_of(uri: str | None) -> int | None:
    try:
        return int(uri.rsplit("/", 1)[1]) if uri else None
    except ValueError:
        return None


def start_run(spec: RunSpec) -> OptimizationRun:
    """Start an optimization in the background; refuse if another one is running here."""
    global _current, _exit_hook
    with _active_lock:
        if _current is not None and not _current.done:
            if getattr(spec.resume, "claim", None) is not None:
                from mlflow import MlflowClient

                claims.release(MlflowClient(), spec.resume.claim)
            raise RunConflictError(
                f"Another optimization is still running (MLflow run {_current.run_id}). "
                "A user's predict_fn reads candidate prompts through PromptVersion, patched for the "
                "whole class, so two at once would mix their candidates: stop it (run.stop()) or wait "
                "for it (run.wait()) first."
            )
        run = OptimizationRun(spec)
        _current = run
        if not _exit_hook:
            atexit.register(_stop_at_exit)
            _exit_hook = True
    try:
        run._start()
    except BaseException:  # e.g. a KeyboardInterrupt: the caller gets no run, so leave nothing behind
        if run._thread is not None and run._thread.is_alive():
            run.stop()
        else:
            run._finish("stopped")
        raise
    return run


def current_optimization() -> OptimizationRun | None:
    """The optimization running in this process, if any."""
    run = _current
    return run if run is not None and not run.done else None


def _stop_at_exit() -> None:
    """At interpreter exit: stop a running optimization and end its MLflow run KILLED (bounded), then
    leave the objects still alive to the operating system (`gc.freeze`): collecting them one by one
    after mlflow and litellm were imported takes a second or more of CPU (several on a loaded machine)."""
    import gc

    run = _current
    if run is not None and not run.done:
        run.stop()
        if not run.wait(min(EXIT_WAIT, STOP_GRACE + 0.5)):
            run._watch_stop()  # here, not on a thread of its own: none starts at interpreter shutdown
            run.wait(max(EXIT_WAIT - STOP_GRACE - 0.5, 0))
    gc.freeze()  # the atexit handlers after this one still run; only the final collections are skipped


def run_name(prompt_names: list[str], options: dict) -> str:
    """The MLflow run's name: what is optimized and with which model, e.g. 'sentiment · openai:/task'."""
    model = options.get("model")
    if options.get("predict_fn") is not None:
        model = getattr(options["predict_fn"], "__name__", "predict_fn")
    elif callable(model):
        model = getattr(model, "__name__", "callable")
    return f"{' + '.join(prompt_names)} · {model or 'local:/smollm2'}"[:250]
