"""Shortening text for summaries: cut at a word boundary, never mid-word, and say so with '…'."""


def shorten(text, limit: int) -> str:
    """`text` on one line, at most `limit` characters, cut after the last whole word that fits."""
    flat = " ".join(str(text).split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit - 1]
    if " " in cut and not flat[limit - 1].isspace():
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:") + "…"
