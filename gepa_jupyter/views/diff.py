"""Word-level differences between two prompt texts."""

import difflib
import re

_TOKENS = re.compile(r"\s+|[^\s]+")


def word_diff(old: str, new: str) -> list[tuple[str, str, str]]:
    """(operation, old text, new text) runs, word by word: 'equal', 'replace', 'delete', 'insert'."""
    a, b = _TOKENS.findall(old), _TOKENS.findall(new)
    return [(op, "".join(a[i1:i2]), "".join(b[j1:j2]))
            for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes()]


def word_changes(old: str, new: str) -> tuple[list[str], list[str]]:
    """(added phrases, removed phrases) between two texts, each on one line."""
    added, removed = [], []
    for op, before, after in word_diff(old, new):
        if op != "equal" and before.strip():
            removed.append(" ".join(before.split()))
        if op != "equal" and after.strip():
            added.append(" ".join(after.split()))
    return added, removed
