"""Which language a person at this computer reads (German or English), and texts in it.

The customer's agent and the technician's viewer each keep their own table of texts
(host_agent/texts.py, viewer/texts.py); both choose the language the same way and word
money, prices and stretches of time the same way (`Translations`).
"""

from __future__ import annotations

import locale
import os
from collections.abc import Mapping
from decimal import Decimal
from typing import Final

from protocol.billing import Tariff, format_euro, price_text

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


_UNITS: Final = {
    "de": {"hour": ("Stunde", "Stunden"), "minute": ("Minute", "Minuten"),
           "second": ("Sekunde", "Sekunden")},
    "en": {"hour": ("hour", "hours"), "minute": ("minute", "minutes"),
           "second": ("second", "seconds")},
}  # fmt: skip


class Translations:
    """Texts in one language from a table {key: {"de": ..., "en": ...}}, with the money,
    price and time wordings both programs share."""

    def __init__(self, table: Mapping[str, Mapping[str, str]], language: str) -> None:
        if language not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)}")
        self._table = table
        self.language = language

    def __call__(self, name: str, /, **values: object) -> str:
        return self._table[name][self.language].format(**values)

    def money(self, euros: Decimal) -> str:
        return format_euro(euros, self.language)

    def price(self, tariff: Tariff) -> str:
        """The tariff in the one wording both sides and the invoice use."""
        return price_text(tariff, self.language)

    def span(self, seconds: float) -> str:
        """A stretch of time in words: "8 Sekunden", "1 Minute", "1 Stunde 5 Minuten"."""
        whole = max(0, int(seconds))
        hours, rest = divmod(whole, 3600)
        minutes, secs = divmod(rest, 60)
        parts = [(hours, "hour"), (minutes, "minute")]
        if not hours:
            parts.append((secs, "second"))
        words = [self._unit(count, unit) for count, unit in parts if count]
        return " ".join(words) or self._unit(0, "second")

    def _unit(self, count: int, unit: str) -> str:
        singular, plural = _UNITS[self.language][unit]
        return f"{count} {singular if count == 1 else plural}"
