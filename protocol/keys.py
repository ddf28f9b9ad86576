"""The keys a viewer may send and a host may inject.

A key is either one printable character ("a", "Ä", "€") or one of the X keysym names below
(the names Tk reports as `event.keysym`). Anything else is refused by the host.
"""

from __future__ import annotations

MODIFIER_KEYS = frozenset(
    {
        "Shift_L", "Shift_R", "Control_L", "Control_R", "Alt_L", "Alt_R",
        "Super_L", "Super_R", "Meta_L", "Meta_R", "ISO_Level3_Shift", "Caps_Lock",
    }
)  # fmt: skip

SPECIAL_KEYS = frozenset(
    {
        "Return", "KP_Enter", "BackSpace", "Tab", "ISO_Left_Tab", "Escape", "Delete",
        "Insert", "Home", "End", "Page_Up", "Prior", "Page_Down", "Next",
        "Left", "Right", "Up", "Down", "space", "Menu", "Print", "Pause", "Num_Lock",
        "Scroll_Lock",
        *(f"F{n}" for n in range(1, 13)),
    }
)  # fmt: skip

NAMED_KEYS = MODIFIER_KEYS | SPECIAL_KEYS


def is_known_key(key: str) -> bool:
    """True for one printable character or a known key name."""
    if len(key) == 1:
        return key.isprintable()
    return key in NAMED_KEYS
