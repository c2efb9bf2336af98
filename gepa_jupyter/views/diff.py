"""Word-level differences between two prompt texts."""

import difflib
import re

_TOKENS = re.compile(r"\s+|[^\s]+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def word_diff(old: str, new: str) -> list[tuple[str, str, str]]:
    """(operation, old text, new text) runs, word by word: 'equal', 'replace', 'delete', 'insert'."""
    a, b = _TOKENS.findall(old), _TOKENS.findall(new)
    return [(op, "".join(a[i1:i2]), "".join(b[j1:j2]))
            for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes()]


def sentence_changes(old: str, new: str) -> tuple[list[str], list[str]]:
    """(added sentences, removed sentences) between two texts: lines and sentences are the units,
    so an added instruction reads whole."""
    a = [" ".join(t.split()) for t in _SENTENCE_END.split(old) if t.strip()]
    b = [" ".join(t.split()) for t in _SENTENCE_END.split(new) if t.strip()]
    added, removed = [], []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op != "equal":
            removed += a[i1:i2]
            added += b[j1:j2]
    # A sentence only reworded (its words all on the other side, e.g. 'Do X: {{v}}' split into
    # 'Do X.' and 'V: {{v}}') is neither added nor removed.
    old_words, new_words = _words(removed), _words(added)
    return ([t for t in added if not _words([t]) <= old_words],
            [t for t in removed if not _words([t]) <= new_words])


def _words(sentences: list[str]) -> set[str]:
    return {w for t in sentences for w in re.findall(r"\w+", t.lower())}
