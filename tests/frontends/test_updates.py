"""LiveUpdater coalesces events into few redraws and always draws the final state."""

import time

from gepa_jupyter.frontends.updates import LiveUpdater
from gepa_jupyter.testing import SEED_PROMPT, FakeReflectionModel, FakeTaskModel


def test_bursts_are_coalesced_and_the_last_redraw_is_final(tracking, reviews):
    import gepa_jupyter

    drawn = []
    run = gepa_jupyter.optimize(SEED_PROMPT, reviews, model=FakeTaskModel(), reflection_model=FakeReflectionModel(),
                                max_metric_calls=120, cache=False)
    events = []
    run.subscribe(events.append)
    updater = LiveUpdater(run, lambda snap: (drawn.append(snap), time.sleep(0.05)), interval=0.3)
    assert run.wait(60)
    assert updater.join(10)
    assert drawn[-1].status == "finished"
    assert len(drawn[-1].scores) == len(run.scores)
    assert updater.renders < len(events), "every event caused a redraw: nothing was coalesced"
    assert not updater.errors
