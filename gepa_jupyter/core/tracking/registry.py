"""The prompt registry side of a run: the seed's version, and the best prompt's version and alias.

No version spam: a template already registered under the name (seed or optimized) is reused,
and a best prompt identical to the seed registers nothing new.
"""

import logging
import random
import time

from gepa_jupyter.core.events import CandidateEvent
from gepa_jupyter.core.tracking import schema

_logger = logging.getLogger(__name__)

OPTIMIZED_ALIAS = "optimized"
SEARCH_LIMIT = 200  # most recent versions looked at for an identical template
RACE_SIGNS = ("already exists", "UNIQUE constraint")  # another process registered the same name at once


def find_version(client, name: str, template: str) -> int | None:
    """The newest version of prompt `name` whose template is exactly `template`, if any."""
    try:
        versions = list(client.search_prompt_versions(name, max_results=SEARCH_LIMIT))
    except Exception:  # no such prompt yet, or a registry without search
        return None
    matches = [int(v.version) for v in versions if v.is_text_prompt and v.template == template]
    return max(matches) if matches else None


def _raced(call, attempts: int = 4):
    """`call()`, again when another process created the same prompt or alias at the same moment."""
    for attempt in range(attempts):
        try:
            return call()
        except Exception as e:
            if attempt == attempts - 1 or not any(sign in str(e) for sign in RACE_SIGNS):
                raise
            time.sleep(0.05 + random.random() * 0.2)


def _version_for(client, name: str, template: str, role: str) -> int:
    """The version of `name` holding `template`: an existing one, else a new one."""
    def find_or_register():
        version = find_version(client, name, template)
        if version is None:
            version = client.register_prompt(
                name=name, template=template, commit_message=f"{role} prompt of a gepa-jupyter optimization",
                tags={schema.ROLE_TAG: "seed" if role == "seed" else "optimized"}).version
        return int(version)

    return _raced(find_or_register)


def register_seed(client, name: str, template: str) -> str:
    """The URI of a version of `name` holding this template (an existing one if there is one)."""
    return f"prompts:/{name}/{_version_for(client, name, template, 'seed')}"


def register_best(client, name: str, template: str, *, run_id: str | None, best: CandidateEvent | None,
                  seed_score: float | None, seed_version: int | None, holdout: dict[str, dict],
                  force: bool = False, extra_tags: dict | None = None,
                  improved_only: bool = False) -> tuple[int | None, bool]:
    """(version, alias set) for the best prompt: tagged with its scores, aliased `optimized`
    only if it beat the seed (and did not lose on the held-out rows).

    A best prompt identical to the seed is not registered again (`seed_version` is returned),
    unless `force`; with `improved_only` neither is one that did not beat the seed.
    """
    beat_seed = best is not None and seed_score is not None and best.score > seed_score
    if beat_seed and holdout:
        beat_seed = holdout["best"]["score"] >= holdout["seed"]["score"]
    if best is None or (not force and (best.index == 0 or (improved_only and not beat_seed))):
        return seed_version, False
    version = _version_for(client, name, template, "best")
    tags = {schema.SCORE_TAG: f"{best.score:.6g}", schema.CANDIDATE_TAG: str(best.index)}
    if run_id is not None:  # a run with a best candidate has opened its MLflow run
        tags[schema.RUN_ID_TAG] = run_id
    if seed_score is not None:
        tags[schema.SEED_SCORE_TAG] = f"{seed_score:.6g}"
    tags |= {schema.SCORER_SCORE_PREFIX + k: f"{v:.6g}" for k, v in best.scorer_scores.items()}
    for label, scores in holdout.items():
        tags[schema.holdout_score_tag(label)] = f"{scores['score']:.6g}"
    tags |= extra_tags or {}
    for key, value in tags.items():  # two processes may tag the same (reused) version at once
        _raced(lambda key=key, value=value: client.set_prompt_version_tag(name, version, key, value))
    try:
        client.link_prompt_version_to_run(run_id, f"prompts:/{name}/{version}")
    except Exception as e:
        _logger.debug("prompts:/%s/%s not linked to run %s: %r", name, version, run_id, e)
    aliased = (beat_seed or force) and not _better_aliased(client, name, run_id, best.score)
    if aliased:
        _raced(lambda: client.set_prompt_alias(name, OPTIMIZED_ALIAS, version))
    return version, aliased


def _better_aliased(client, name: str, run_id: str | None, score: float) -> bool:
    """Whether the `optimized` alias already names a version this same run scored higher (e.g. before a
    resume): the alias never moves to a worse prompt of the run."""
    try:
        current = client.get_prompt_version_by_alias(name, OPTIMIZED_ALIAS)
    except Exception:  # no alias yet
        return False
    tags = getattr(current, "tags", None) or {}
    try:
        return tags.get(schema.RUN_ID_TAG) == run_id and float(tags[schema.SCORE_TAG]) > score
    except (KeyError, TypeError, ValueError):
        return False
