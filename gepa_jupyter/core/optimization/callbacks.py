"""gepa callback: each validation evaluation becomes a CandidateEvent and an MLflow step."""

import time

from gepa_jupyter.core.events import BudgetEvent, CandidateEvent
from gepa_jupyter.core.tracking import candidates


class CandidateLogger:
    """Turns gepa's callbacks into the optimizer's events; queues each candidate's MLflow write."""

    def __init__(self, optimizer, adapter, valset: list[dict], writer, started: float):
        self.optimizer = optimizer
        self.adapter = adapter
        self.valset = list(valset)
        self.writer = writer  # None: tracking off
        self.started = started
        self.best_score = float("-inf")
        self.iteration = 0

    def continue_from(self, best_score: float, elapsed: float) -> None:
        """A resumed run: the best score so far, and the time already spent on it."""
        self.best_score = best_score
        self.started -= elapsed

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def progress(self, activity: str, done: int = 0, total: int = 0) -> None:
        opt = self.optimizer
        opt.set_activity(f"{activity} ({done}/{total} rows)" if total else activity)
        opt.events.emit(BudgetEvent(opt.metric_calls, opt.max_metric_calls, self.elapsed(), activity, done, total))

    def on_iteration_start(self, event):
        self.iteration = int(event["iteration"])

    def on_iteration_end(self, event):
        self.adapter.forget()

    def on_valset_evaluated(self, event):
        opt = self.optimizer
        checkpoint = getattr(opt, "checkpoint", None)  # core.durability.checkpoint: a resumed run's known candidates
        if checkpoint is not None and checkpoint.known(event):
            return
        val_ids = sorted(event["scores_by_val_id"])
        records = self.adapter.results_for(event["candidate"], [self.valset[i] for i in val_ids])
        if records is not None:
            aggregate, per_scorer = candidates.summarize(records)
        else:  # served from gepa's evaluation cache: only the scores are known
            aggregate, per_scorer = float(event["average_score"]), {}
        new_best = aggregate > self.best_score
        self.best_score = max(self.best_score, aggregate)
        candidate = CandidateEvent(
            index=int(event["candidate_idx"]),
            iteration=int(event["iteration"]),
            parents=tuple(int(p) for p in event["parent_ids"] if p is not None),
            score=float(aggregate),
            scorer_scores=per_scorer,
            prompts=dict(event["candidate"]),
            metric_calls=opt.metric_calls,
            elapsed=self.elapsed(),
            new_best=new_best,
            step=len(opt.candidates),
            usage=opt.usage() if opt.usage else {},
            validated_at=self.adapter.finished_at(event["candidate"]) or time.time(),
            origin=event.get("origin") or ("seed" if int(event["candidate_idx"]) == 0 else "gepa"),
        )
        opt.add_candidate(candidate, val_ids, records, event["scores_by_val_id"], event.get("outputs_by_val_id"))
        if self.writer is not None:
            self.writer.submit(f"candidate {candidate.index}",
                               lambda: self._write(candidate, records or [], aggregate, per_scorer, checkpoint))

    def _write(self, candidate: CandidateEvent, records: list, aggregate: float, per_scorer: dict, checkpoint) -> None:
        """One candidate's MLflow write (the writer's thread); a checkpoint first uploads a state holding it."""
        opt = self.optimizer
        if checkpoint is not None:
            checkpoint.before_write(candidate)
        candidates.log_candidate(candidate.step, candidate.prompts, records, aggregate, per_scorer, run_id=opt.run_id,
                               client=opt.client)
        if checkpoint is not None:
            checkpoint.after_write(opt.candidates[:candidate.step + 1])
