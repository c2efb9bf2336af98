"""Several proposals per iteration, within the budget (gepa's multi-proposal sampling).

With many evaluation workers, one proposal per iteration leaves them idle: a minibatch is 3
rows. gepa can sample several (parent, minibatch) tasks per iteration and evaluates their
minibatches together; `BudgetedSampling(n)` does that with at most `n` tasks, and fewer when the
budget left cannot pay for their two minibatches each.
"""

from gepa_jupyter.core.inputs.budget import MINIBATCH


def proposals_per_iteration(requested: int | None, workers: int, train_rows: int,
                            minibatch: int = MINIBATCH) -> int:
    """`requested`, or by default one per 2 minibatches the workers score at once (1 for up to
    11 workers), at most one per minibatch of distinct training rows."""
    if requested is not None:
        return requested
    return max(1, min(workers // (2 * minibatch), train_rows // minibatch))


class BudgetedSampling:
    """gepa SamplingStrategy: `n` parents, each with its own minibatch, as many as the budget allows."""

    def __init__(self, n: int, budget: int, minibatch: int = MINIBATCH):
        self.n = n
        self.budget = budget
        self.minibatch = minibatch

    def sample_tasks(self, state, candidate_selector, batch_sampler, trainset):
        from gepa_jupyter.core.upstream import IndependentSampling, SingleMutationSampling

        left = self.budget - state.total_num_evals
        n = max(1, min(self.n, left // (2 * self.minibatch)))
        strategy = SingleMutationSampling() if n == 1 else IndependentSampling(n)
        return strategy.sample_tasks(state, candidate_selector, batch_sampler, trainset)
