"""Labelled product and restaurant reviews of three kinds (plain, negation, sarcasm).

`REVIEWS_16` is the set the deterministic fakes of `gepa_jupyter.testing` know; `REVIEWS_48`
adds 32 more of the same kinds (24 positive, 24 negative) for measuring small-model prompt
optimization with a held-out split. Each entry is (text, label, kind).
"""

_PLAIN = [
    ("I love this blender, it works great.", "positive"),
    ("Fantastic battery life and a bright screen.", "positive"),
    ("The staff were friendly and the food was delicious.", "positive"),
    ("Excellent sound, I use these headphones every day.", "positive"),
    ("Terrible blender, it broke in a day.", "negative"),
    ("The screen cracked and support never answered.", "negative"),
    ("Cold food and a rude waiter.", "negative"),
    ("Awful fit, the shoes hurt after an hour.", "negative"),
]
_NEGATION = [
    ("This kettle is not good at all.", "negative"),
    ("Not bad, it does the job.", "positive"),
    ("I would not recommend this hotel.", "negative"),
    ("Never had a problem with it, not once.", "positive"),
]
_SARCASM = [
    ("Oh great, another charger that died in a week.", "negative"),
    ("Wonderful, the app crashed again before I could pay.", "negative"),
    ("Just perfect, the box arrived empty.", "negative"),
    ("Lovely, the paint peeled off on day two.", "negative"),
]
REVIEWS_16 = ([(t, label, "plain") for t, label in _PLAIN] + [(t, label, "negation") for t, label in _NEGATION]
           + [(t, label, "sarcasm") for t, label in _SARCASM])
_MORE = [
    ("The coffee machine is quiet and makes a perfect espresso.", "positive", "plain"),
    ("Comfortable chair, my back pain is gone.", "positive", "plain"),
    ("Fast delivery and the jacket fits perfectly.", "positive", "plain"),
    ("The hotel room was spotless and the view was stunning.", "positive", "plain"),
    ("Great value, the knives are still sharp after a year.", "positive", "plain"),
    ("My kids love this board game, we play it every weekend.", "positive", "plain"),
    ("The pasta was fresh and the service was quick.", "positive", "plain"),
    ("Easy to set up and the picture quality is superb.", "positive", "plain"),
    ("Beautiful lamp, it makes the room feel warm.", "positive", "plain"),
    ("The vacuum picks up everything, highly recommended.", "positive", "plain"),
    ("The zipper broke the first time I used the bag.", "negative", "plain"),
    ("Slow service and the soup was cold.", "negative", "plain"),
    ("The printer jams on every second page.", "negative", "plain"),
    ("Sturdy frying pan, nothing sticks to it.", "positive", "plain"),
    ("The guide was funny and knew every corner of the city.", "positive", "plain"),
    ("Battery drains in two hours, a waste of money.", "negative", "plain"),
    ("The room was dirty and the shower had no hot water.", "negative", "plain"),
    ("This tent kept us dry through a stormy night.", "positive", "plain"),
    ("Clear instructions, the shelf was up in ten minutes.", "positive", "plain"),
    ("The bakery's bread is crusty and delicious.", "positive", "plain"),
    ("The blanket is not warm enough for winter.", "negative", "negation"),
    ("Not the worst phone I have owned, it is actually quite good.", "positive", "negation"),
    ("I can't say I enjoyed the meal.", "negative", "negation"),
    ("No complaints, the fridge keeps everything cold.", "positive", "negation"),
    ("The speaker is not loud and not clear.", "negative", "negation"),
    ("I was not disappointed, the cake was lovely.", "positive", "negation"),
    ("Brilliant, the shoes fell apart after one walk.", "negative", "sarcasm"),
    ("Oh wonderful, a toaster that only burns one side.", "negative", "sarcasm"),
    ("Amazing how the wifi drops every ten minutes.", "negative", "sarcasm"),
    ("Great job, you sent me the wrong size twice.", "negative", "sarcasm"),
    ("Fantastic, a waterproof watch that stopped in the rain.", "negative", "sarcasm"),
    ("Thanks a lot, the warranty covers nothing.", "negative", "sarcasm"),
]
REVIEWS_48 = list(REVIEWS_16) + _MORE


def review_data(count: int = 48, with_kind: bool = False):
    """A DataFrame with columns `review` and `target` (and `kind`), `count` (16 or 48) rows in a fixed order."""
    import pandas as pd

    if count not in (16, 48):
        raise ValueError(f"count must be 16 or 48, got {count!r}")
    reviews = REVIEWS_16 if count == 16 else REVIEWS_48
    rows = [{"review": text, "target": label, **({"kind": kind} if with_kind else {})}
            for text, label, kind in reviews]
    return pd.DataFrame(rows)
