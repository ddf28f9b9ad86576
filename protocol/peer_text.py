"""Text from the other side (chat, the technician's name, reasons for an end) made inert.

Whatever the peer sends is shown to a person as exactly one line of plain characters: no
line breaks (which could print a line that looks like the agent's own), no escape
sequences or other control characters (which a terminal would obey), no bidirectional
overrides or invisible format characters (which reorder or hide what is shown), and no
more than a bounded number of characters.
"""

from __future__ import annotations

import unicodedata

MAX_PEER_LINE_CHARS = 300
ELLIPSIS = "…"
# Control, format, surrogate, private-use and unassigned characters, and the line and
# paragraph separators: none of them is shown as what it is.
_UNSHOWN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def one_line(text: str, max_chars: int = MAX_PEER_LINE_CHARS) -> str:
    """`text` as one inert line of at most `max_chars` characters.

    Each run of whitespace and unshown characters becomes one space; a longer text is cut
    and ends in an ellipsis.
    """
    out: list[str] = []
    gap = False
    for char in text:
        if char.isspace() or unicodedata.category(char) in _UNSHOWN_CATEGORIES:
            gap = bool(out)
            continue
        if gap:
            out.append(" ")
            gap = False
        out.append(char)
        if len(out) > max_chars:
            break
    if len(out) > max_chars:
        return "".join(out[: max(0, max_chars - 1)]).rstrip() + ELLIPSIS
    return "".join(out)
