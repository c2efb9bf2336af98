"""Word-level differences between two prompt texts, and the same as escaped HTML."""

import difflib
import re
from html import escape

from gepa_jupyter.views.style import TINT_ADDED, TINT_REMOVED

_TOKENS = re.compile(r"\s+|[^\s]+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def word_diff(old: str, new: str) -> list[tuple[str, str, str]]:
    """(operation, old text, new text) runs, word by word: 'equal', 'replace', 'delete', 'insert'."""
    a, b = _TOKENS.findall(old), _TOKENS.findall(new)
    return [(op, "".join(a[i1:i2]), "".join(b[j1:j2]))
            for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes()]


def _removed(html: str) -> str:
    return f'<del style="background:{TINT_REMOVED};text-decoration:line-through">{html}</del>' if html else ""


def _added(html: str) -> str:
    return f'<ins style="background:{TINT_ADDED};text-decoration:underline">{html}</ins>' if html else ""


def diff_html(old: str, new: str) -> tuple[str, str]:
    """(old, new) as escaped HTML, removed words in <del>, added words in <ins>."""
    left, right = [], []
    for op, before, after in word_diff(old, new):
        before, after = escape(before), escape(after)
        left.append(before if op == "equal" else _removed(before))
        right.append(after if op == "equal" else _added(after))
    return "".join(left), "".join(right)


def inline_diff_html(old: str, new: str) -> str:
    """`new` as escaped HTML with the words of `old` it lacks struck through in place, its own underlined."""
    return "".join(escape(before) if op == "equal" else _removed(escape(before)) + _added(escape(after))
                   for op, before, after in word_diff(old, new))


def unified_text(old: str, new: str, old_label: str, new_label: str) -> str:
    """A unified diff of two texts, line by line (for terminals)."""
    return "\n".join(difflib.unified_diff(old.splitlines(), new.splitlines(), old_label, new_label, lineterm=""))


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
