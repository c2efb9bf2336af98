"""Colours and small HTML pieces every view shares, readable in light and dark themes.

Text keeps the front-end's own colour (JupyterLab light and dark, Notebook 7, VS Code, an
nbconvert export): backgrounds behind it are translucent tints, secondary text is dimmed with
opacity, borders are translucent grey. Only the grid's cells and the chart's marks have solid
colours, each with its own text colour.
"""

from collections.abc import Set
from html import escape

from gepa_jupyter.core.insight.text import cut, shorten

BORDER = "rgba(127,127,127,.35)"
TRACK = "rgba(127,127,127,.25)"
TINT_BEST = "rgba(46,160,67,.18)"
TINT_ADDED = "rgba(46,160,67,.32)"
TINT_REMOVED = "rgba(248,81,73,.32)"
MUTED = "opacity:.75"
BLUE, GREEN, RED, AMBER = "#2f81f7", "#2da44e", "#cf222e", "#9a6700"
ORANGE = "#e16f24"  # the chart's mark of a candidate the user wrote
RIGHT_CELL = ("#1a7f37", "#fff")  # (background, text): white on green 5.1:1
WRONG_CELL = ("#cf222e", "#fff")  # 5.3:1
PARTIAL_CELL = ("#9a6700", "#fff")  # 5.0:1
CELL_PAD = "padding:3px 8px"
TH = f'style="{CELL_PAD};text-align:left;border-bottom:1px solid {BORDER};white-space:nowrap"'
TD = f'style="{CELL_PAD};text-align:left;vertical-align:top;border-bottom:1px solid {BORDER}"'
TD_NUM = f'style="{CELL_PAD};text-align:right;vertical-align:top;border-bottom:1px solid {BORDER}"'
TABLE = 'style="border-collapse:collapse;font-size:12px;margin:4px 0"'


def heading(title: str) -> str:
    """A section title, the same in every front-end."""
    return f'<h4 class="gepa-heading" style="margin:14px 0 4px 0">{escape(title)}</h4>'


def note(text: str) -> str:
    """Secondary text (counts, hints), dimmed but in the theme's colour."""
    return f'<div class="gepa-note" style="font-size:12px;{MUTED};margin:2px 0">{escape(text)}</div>'


def table(head: list[str], rows: list[list[str]], css_class: str, numeric: Set[int] = frozenset()) -> str:
    """A padded table; `head` is plain text (escaped here), `rows` are cells of escaped HTML."""
    header = "".join(f"<th {TH}>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td {TD_NUM if i in numeric else TD}>{cell}</td>" for i, cell in enumerate(row))
                   + "</tr>" for row in rows)
    return (f'<div style="overflow-x:auto"><table class="{css_class}" {TABLE}><thead><tr>{header}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def column(html: str, width_em: int = 26) -> str:
    """Cell content kept to a readable width (long feedback and prompts wrap instead of widening the table)."""
    return f'<div style="min-width:10em;max-width:{width_em}em">{html}</div>'


def expandable(text: str, preview_chars: int, limit: int, where: str) -> str:
    """Text shown whole when short; else its first words with the rest a click away
    (<details>), never cut mid-word. Beyond `limit` characters `where` says where the rest is."""
    text = str(text)
    if len(text) <= preview_chars:
        return f'<span style="white-space:pre-wrap">{escape(text)}</span>'
    shown = cut(text, limit)
    rest = "" if shown == text else f" … ({len(text) - len(shown)} more characters in {where})"
    return (f'<details><summary style="cursor:pointer" title="click to read it whole">'
            f"{escape(shorten(text, preview_chars))}</summary>"
            f'<div style="white-space:pre-wrap;margin-top:2px">{escape(shown)}{escape(rest)}</div></details>')


def fold(summary: str, html: str, css_class: str) -> str:
    """A section one click away: its title (plain text, escaped here) opens it; empty when `html` is."""
    if not html:
        return ""
    return (f'<details class="gepa-fold {css_class}" style="margin:6px 0">'
            f'<summary style="cursor:pointer;font-weight:600;margin:2px 0">{escape(summary)}</summary>{html}</details>')
