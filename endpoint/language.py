"""Which language a person at this computer reads: German or English.

The customer's agent and the technician's viewer each keep their own table of texts
(host_agent/texts.py, viewer/texts.py); both choose the language the same way.
"""

from __future__ import annotations

import locale
import os
from collections.abc import Mapping
from typing import Final

LANGUAGES: Final = ("de", "en")


def detect_language(environ: Mapping[str, str] | None = None) -> str:
    """German or English, from LC_ALL / LC_MESSAGES / LANG or the locale (English otherwise)."""
    env = os.environ if environ is None else environ
    for name in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        value = env.get(name, "")
        if value:
            return "de" if value.lower().startswith("de") else "en"
    current = locale.getlocale()[0] or ""
    return "de" if current.lower().startswith("de") else "en"
