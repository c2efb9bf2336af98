"""The demo data and the package's fakes agree: every review of `review_data` is one the fake model
(in-process and behind the fake server) knows, so a demo run shows a real improvement."""

from gepa_jupyter.datasets import review_data
from gepa_jupyter.testing import HINTS, SEED_PROMPT, answer


def test_the_fake_knows_every_demo_review():
    data = review_data(48)
    best = "\n".join([SEED_PROMPT, *HINTS])
    right = [answer(best.replace("{{review}}", r)) == t for r, t in zip(data["review"], data["target"])]
    seed = [answer(SEED_PROMPT.replace("{{review}}", r)) == t for r, t in zip(data["review"], data["target"])]
    assert all(right), "the best prompt gets every row right"
    assert not any(seed), "the seed answers in sentences: exact_match scores it 0"


def test_the_readme_and_docs_use_the_datas_columns():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    assert list(review_data(16).columns) == ["review", "target"]
    for page in [root / "README.md", root / "docs" / "magic.md"]:
        text = page.read_text()
        assert "--target label" not in text and "--target target" in text, page
