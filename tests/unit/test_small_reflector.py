"""The small-model reflector keeps {{variables}} by construction and falls back when the model
writes nothing usable (fast: scripted models stand in for SmolLM2 here; see test_models_local)."""

import gepa_jupyter
from gepa_jupyter.core.inputs.templates import template_variables
from gepa_jupyter.core.optimization.small_reflector import SmallModelReflector, clean_sentence, split_template
from gepa_jupyter.testing import SEED_PROMPT, FakeTaskModel, register_fake_provider, sentiment_data


def rows(*triples):
    return [{"inputs": {"review": text}, "outputs": out, "expectations": {"expected_response": exp},
             "score": float(out == exp)} for text, out, exp in triples]


LONG = rows(("I love it.", "The review is positive, I think.", "positive"),
            ("It broke.", "This review sounds negative to me.", "negative"))
WRONG = rows(("Oh great, it died in a week.", "positive", "negative"), ("Works well.", "positive", "positive"))


def test_split_template():
    assert split_template(SEED_PROMPT) == (["Classify the sentiment of this review."], ["Review: {{review}}"])
    assert split_template("Be brief.\nText: {{text}}\nQ: {{question}}") == (
        ["Be brief."], ["Text: {{text}}", "Q: {{question}}"])
    assert split_template("Is {{a}} like {{b}}?") == ([], ["Is {{a}} like {{b}}?"])


def test_clean_sentence():
    assert clean_sentence('Instruction: "Answer in one word."\n\nMore text') == "Answer in one word."
    assert clean_sentence("Use {{label}} here. Second. Third.") == "Use label here. Second."


def test_model_sentence_used_when_it_passes_the_check():
    reflector = SmallModelReflector(lambda messages: "Answer with one word, positive or negative.")
    text, asked, raw, meta = reflector.propose(SEED_PROMPT, LONG)
    assert meta == {"need": "format", "source": "model"}
    assert text == ("Classify the sentiment of this review.\nAnswer with one word, positive or negative.\n"
                    "Review: {{review}}")
    assert "positive" in asked and "Classify the sentiment" in asked


def test_garbage_from_the_model_gets_the_fixed_sentence_and_variables_stay():
    calls = []
    reflector = SmallModelReflector(lambda messages: calls.append(messages) or "The review is positive.")
    text, _, _, meta = reflector.propose(SEED_PROMPT, LONG)
    assert meta["source"] == "fixed" and "Answer with only one word: negative or positive." in text
    text2, _, _, meta2 = reflector.propose(text, WRONG)
    assert meta2["need"] == "case" and meta2["source"] == "fixed"
    assert 'Example: "Oh great, it died in a week." -> negative' in text2
    for _ in range(5):  # the model is asked once per need; examples are capped
        text2, _, _, _ = reflector.propose(text2, rows((f"Case {_}.", "positive", "negative")))
    assert template_variables(text2) == ["review"] and text2.endswith("Review: {{review}}")
    assert text2.count("Example:") == 3 and len(calls) == 7


def test_local_reflection_models_get_it_and_a_user_template_wins(tracking, monkeypatch):
    register_fake_provider()
    run = gepa_jupyter.optimize(SEED_PROMPT, sentiment_data(), model=FakeTaskModel(), cache=False,
                                reflection_model="fake:/reflection", reflection_kwargs={"reflector": "small"},
                                max_metric_calls=40)
    assert isinstance(run.spec.gepa_kwargs["reflection_strategy"], SmallModelReflector)
    assert run.wait(120) and run.status == "finished" and run.invalid_proposals == 0
    template = "Improve: <curr_param>\nFeedback: <side_info>\nReturn it in ```."
    run = gepa_jupyter.optimize(SEED_PROMPT, sentiment_data(), model=FakeTaskModel(), cache=False,
                                reflection_model="fake:/reflection", reflection_kwargs={"reflector": "small"},
                                max_metric_calls=20, gepa_kwargs={"reflection_prompt_template": template})
    assert "reflection_strategy" not in run.spec.gepa_kwargs
    assert run.wait(120) and run.status == "finished"
