"""Per-example comparison of the best prompt with the seed: the examples it still gets wrong,
those it fixed and those it broke (from the per-row results, `run.examples`)."""

from dataclasses import dataclass, field
from html import escape

from gepa_jupyter.core.insight.text import shorten
from gepa_jupyter.views.state import RunSnapshot
from gepa_jupyter.views.style import heading, note, table

SHOWN = 10  # examples listed per group (the DataFrame run.examples has all)
CHARS = 160  # characters of an input or output shown in a cell


@dataclass(frozen=True)
class ExampleChange:
    example: object  # core.insight.example_log.Example
    seed: object  # core.insight.example_log.RowScore of the seed
    best: object  # core.insight.example_log.RowScore of the best prompt


@dataclass(frozen=True)
class ExampleChanges:
    """The best prompt against the seed, example by example (validation order)."""

    still_wrong: list = field(default_factory=list)  # the best's score is below 1
    fixed: list = field(default_factory=list)  # the best scores higher than the seed
    broken: list = field(default_factory=list)  # the best scores lower than the seed
    total: int = 0

    @property
    def known(self) -> bool:
        return self.total > 0


def example_changes(snap: RunSnapshot) -> ExampleChanges:
    """Group the validation examples by what the best prompt does compared with the seed."""
    seed_rows = snap.examples.of(snap.seed_index) if snap.seed_index is not None else None
    best_rows = snap.examples.of(snap.best_index) if snap.best_index is not None else None
    if not seed_rows or not best_rows:
        return ExampleChanges()
    changes = ExampleChanges(total=len(snap.examples.examples))
    for example, seed, best in zip(snap.examples.examples, seed_rows, best_rows):
        if seed is None or best is None:
            continue
        change = ExampleChange(example, seed, best)
        if best.score < 1:
            changes.still_wrong.append(change)
        if best.score > seed.score:
            changes.fixed.append(change)
        elif best.score < seed.score:
            changes.broken.append(change)
    return changes


def inputs_text(example) -> str:
    return " / ".join(str(v) for v in example.inputs.values())


def rationales_text(result) -> str:
    """What the scorers that explain themselves (MLflow judges) said of one output: 'name: why'."""
    said = [(name, why) for name, why in (getattr(result, "rationales", None) or {}).items() if why]
    if len(said) == 1:
        return str(said[0][1])
    return " | ".join(f"{name}: {why}" for name, why in said)


def _group(title: str, items: list, with_seed: bool) -> str:
    if not items:
        return ""
    judged = any(rationales_text(c.best) or (with_seed and rationales_text(c.seed)) for c in items[:SHOWN])
    head = ["row", "input", "expected"] + (["seed's output", "seed"] if with_seed else [])
    head += (["the judges on the seed"] if with_seed and judged else []) + ["best's output", "best"]
    head += ["the judges on the best"] if judged else []
    rows = []
    for change in items[:SHOWN]:
        cells = [change.example.row, shorten(inputs_text(change.example), CHARS), shorten(change.example.expected, CHARS)]
        if with_seed:
            cells += [shorten(change.seed.output, CHARS), f"{change.seed.score:.2f}"]
            cells += [shorten(rationales_text(change.seed), CHARS)] if judged else []
        cells += [shorten(change.best.output, CHARS), f"{change.best.score:.2f}"]
        cells += [shorten(rationales_text(change.best), CHARS)] if judged else []
        rows.append([escape(str(c)) for c in cells])
    more = note(f"and {len(items) - SHOWN} more (run.examples has every row)") if len(items) > SHOWN else ""
    numeric = {head.index("best")} | ({4} if with_seed else set())
    return heading(title) + table(head, rows, "gepa-examples", numeric) + more


def changes_html(snap: RunSnapshot) -> str:
    """Three short tables: fixed, broken (both against the seed) and still wrong; escaped."""
    changes = example_changes(snap)
    if not changes.known:
        return ""
    same = snap.best_index == snap.seed_index
    parts = ['<div class="gepa-changes">']
    if not same:
        parts.append(_group(f"Fixed compared with the seed ({len(changes.fixed)} of {changes.total})", changes.fixed, True))
        parts.append(_group(f"Broken compared with the seed ({len(changes.broken)} of {changes.total})",
                            changes.broken, True))
        if not changes.fixed and not changes.broken:
            parts.append(note("The best prompt and the seed get the same examples right."))
    parts.append(_group(f"Still wrong with the best prompt ({len(changes.still_wrong)} of {changes.total})",
                        changes.still_wrong, False))
    if not changes.still_wrong:
        parts.append(note(f"The best prompt gets all {changes.total} validation examples right."))
    parts.append("</div>")
    return "".join(parts)


def changes_text(snap: RunSnapshot) -> str:
    """The same for a terminal."""
    changes = example_changes(snap)
    if not changes.known:
        return ""
    lines = []
    groups = [("still wrong with the best prompt", changes.still_wrong)]
    if snap.best_index != snap.seed_index:
        groups = [("fixed compared with the seed", changes.fixed), ("broken compared with the seed", changes.broken),
                  *groups]
    for title, items in groups:
        lines.append(f"--- {title}: {len(items)} of {changes.total} ---")
        for change in items[:SHOWN]:
            seed = f"seed {shorten(change.seed.output, 60)!r} ({change.seed.score:.2f}), " if title != groups[-1][0] else ""
            lines.append(f"  row {change.example.row}: {shorten(inputs_text(change.example), 70)!r} expected "
                         f"{shorten(change.example.expected, 40)!r}: {seed}best {shorten(change.best.output, 60)!r} "
                         f"({change.best.score:.2f})")
            if rationales_text(change.best):
                lines.append(f"    the judges on the best: {shorten(rationales_text(change.best), 120)}")
        if len(items) > SHOWN:
            lines.append(f"  and {len(items) - SHOWN} more (run.examples)")
    return "\n".join(lines)
