"""Proposals from the reflection model: abandoned on stop, discarded when they change the `{{variables}}`."""

from gepa_jupyter.core.evaluation.pool import call_abandonably
from gepa_jupyter.core.events import ProposalEvent
from gepa_jupyter.core.inputs.templates import template_variables, variable_mismatch


class CustomProposer:
    """gepa's `custom_candidate_proposer(candidate, reflective_dataset, components) -> {name: text}`
    as a reflection strategy, so its proposals pass through the VariableGuard like the model's."""

    total_cost = 0.0

    def __init__(self, propose):
        self.propose = propose

    def reflect(self, candidate, reflective_dataset, components_to_update):
        from gepa_jupyter.core.upstream import ReflectionProposal

        texts = self.propose(candidate, reflective_dataset, components_to_update)
        return ReflectionProposal(new_texts=dict(texts), prompts={}, raw_lm_outputs={}), self


class VariableGuard:
    """A gepa ReflectionLM wrapper: reflects on a daemon thread (a stop does not wait for the
    reflection model) and drops each proposed text whose `{{variables}}` differ from the seed's.

    A dropped text never reaches evaluation, so it costs no metric calls.
    """

    def __init__(self, inner, seed: dict[str, str], optimizer, listener):
        self.inner = inner
        self.variables = {name: template_variables(text) for name, text in seed.items()}
        self.optimizer = optimizer
        self.listener = listener

    @property
    def total_cost(self):
        return getattr(self.inner, "total_cost", 0.0)

    def reflect(self, candidate, reflective_dataset, components_to_update):
        return self.reflect_many([(candidate, reflective_dataset, components_to_update)])[0]

    def reflect_many(self, jobs):
        self.optimizer.steering.hold()
        self.listener.progress(f"iteration {self.listener.iteration}: asking the reflection model")
        results = call_abandonably(self._reflect_all, jobs, stop=self.optimizer.stop_event,
                                   name=f"{self.optimizer.thread_name}-reflection")
        guarded = []
        for (parent, dataset, _components), (proposal, next_lm) in zip(jobs, results):
            self.inner = next_lm
            proposed = dict(proposal.new_texts)
            dropped = self._check(proposal)
            self.optimizer.proposal_log.reflected(self.listener.iteration, parent, dataset, proposed,
                                                  proposal.metadata, dropped)
            guarded.append((proposal, self))
        return guarded

    def _reflect_all(self, jobs):
        if hasattr(self.inner, "reflect_many"):
            return list(self.inner.reflect_many(jobs))
        return [self.inner.reflect(*job) for job in jobs]

    def _check(self, proposal) -> dict[str, str]:
        """Drop the texts whose variables differ from the seed's; {name: why} of those dropped."""
        iteration = self.listener.iteration
        dropped = {}
        for name in list(proposal.new_texts):
            text = proposal.new_texts[name]
            missing, invented = variable_mismatch(self.variables.get(name, []), text)
            reason = None
            if missing or invented:
                del proposal.new_texts[name]
                self.optimizer.invalid_proposals += 1
                parts = (["drops " + ", ".join("{{" + v + "}}" for v in missing)] if missing else []) + (
                    ["invents " + ", ".join("{{" + v + "}}" for v in invented)] if invented else [])
                reason = dropped[name] = "; ".join(parts)
            self.optimizer.events.emit(ProposalEvent(iteration, {name: text}, reason))
        return dropped
