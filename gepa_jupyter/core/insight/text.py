"""Shortening text for summaries: cut at a word boundary, never mid-word, and say so with '…'."""


def cut(text: str, limit: int) -> str:
    """The start of `text`, at most `limit` characters, ending after a whole word (whitespace kept)."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    if not text[limit].isspace():
        space = max(head.rfind(" "), head.rfind("\n"))
        if space > 0:
            head = head[:space]
    return head.rstrip()


def shorten(text, limit: int) -> str:
    """`text` on one line, at most `limit` characters, cut after the last whole word that fits."""
    flat = " ".join(str(text).split())
    if len(flat) <= limit:
        return flat
    return cut(flat, limit - 1).rstrip(" ,;:") + "…"
