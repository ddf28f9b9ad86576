"""What a session costs: one rule, used by the relay's invoices and both live displays.

Money is `decimal.Decimal` throughout. Rounding to cents happens in exactly one place,
`to_cents` (half up, as German invoices do), applied to each session's net and VAT; a
session's gross is net + VAT, and totals are sums of the rounded lines, so an invoice's
totals always equal the sum of its lines.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
SECONDS_PER_MINUTE = Decimal(60)
DEFAULT_RATE_PER_MINUTE = Decimal("1.40")
DEFAULT_VAT_PERCENT = Decimal("19")


class Rounding(enum.Enum):
    """How billable seconds become billable minutes."""

    PER_STARTED_MINUTE = "started-minute"
    EXACT_SECONDS = "exact"


@dataclass(frozen=True, slots=True)
class Tariff:
    rate_per_minute: Decimal = DEFAULT_RATE_PER_MINUTE
    vat_percent: Decimal = DEFAULT_VAT_PERCENT
    rounding: Rounding = Rounding.PER_STARTED_MINUTE
    minimum_charge: Decimal = Decimal("0")

    def __post_init__(self) -> None:
        for name in ("rate_per_minute", "vat_percent", "minimum_charge"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
                raise ValueError(f"{name} must be a non-negative decimal amount")


@dataclass(frozen=True, slots=True)
class Bill:
    minutes: Decimal
    net: Decimal
    vat: Decimal
    gross: Decimal


def to_cents(amount: Decimal) -> Decimal:
    """The one place where money is rounded: to whole cents, half up."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def billable_minutes(seconds: Decimal | int | float, rounding: Rounding) -> Decimal:
    """Minutes to bill for a stretch of consented time (negative counts as zero)."""
    exact = max(Decimal(str(seconds)), Decimal(0)) / SECONDS_PER_MINUTE
    if rounding is Rounding.PER_STARTED_MINUTE:
        return exact.to_integral_value(rounding=ROUND_CEILING)
    return exact


def bill(seconds: Decimal | int | float, tariff: Tariff) -> Bill:
    """What `seconds` of consented session time cost under `tariff`."""
    minutes = billable_minutes(seconds, tariff.rounding)
    net = minutes * tariff.rate_per_minute
    if minutes > 0:
        net = max(net, tariff.minimum_charge)
    net = to_cents(net)
    vat = to_cents(net * tariff.vat_percent / 100)
    return Bill(minutes=minutes, net=net, vat=vat, gross=net + vat)


def format_euro_german(amount: Decimal) -> str:
    """An amount as a German invoice shows it: 1.234,56 €."""
    sign = "-" if amount < 0 else ""
    whole, cents = f"{abs(to_cents(amount)):.2f}".split(".")
    groups = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    groups.insert(0, whole)
    return f"{sign}{'.'.join(groups)},{cents} €"


def format_euro(amount: Decimal, language: str) -> str:
    """An amount of euros for a person: German "1.234,56 €", English "€1,234.56"."""
    if language == "de":
        return format_euro_german(amount)
    sign = "-" if amount < 0 else ""
    return f"{sign}€{abs(to_cents(amount)):,.2f}"


def format_percent(percent: Decimal, language: str) -> str:
    """19 -> "19 %", 7.5 -> "7,5 %" (German) or "7.5 %"."""
    text = f"{percent.normalize():f}"
    return (text.replace(".", ",") if language == "de" else text) + " %"


def gross_per_minute(tariff: Tariff) -> Decimal:
    """What one minute costs with VAT, in cents (the figure a customer compares)."""
    return to_cents(tariff.rate_per_minute * (1 + tariff.vat_percent / 100))


_PRICE_WORDS = {
    "de": {
        Rounding.PER_STARTED_MINUTE: "{rate} pro angefangene Minute zzgl. {vat} MwSt. "
        "({gross} pro Minute inkl. MwSt.)",
        Rounding.EXACT_SECONDS: "{rate} pro Minute, sekundengenau abgerechnet, zzgl. {vat} "
        "MwSt. ({gross} pro Minute inkl. MwSt.)",
        "minimum": "; mindestens {minimum} netto je Sitzung",
    },
    "en": {
        Rounding.PER_STARTED_MINUTE: "{rate} per started minute plus {vat} VAT "
        "({gross} per minute incl. VAT)",
        Rounding.EXACT_SECONDS: "{rate} per minute, billed by the second, plus {vat} VAT "
        "({gross} per minute incl. VAT)",
        "minimum": "; at least {minimum} net per session",
    },
}


def price_text(tariff: Tariff, language: str) -> str:
    """The one wording of a tariff, for the customer, the technician and the invoice:
    the rate with its rounding, the VAT, and the gross price of a minute."""
    words = _PRICE_WORDS["de" if language == "de" else "en"]
    text = words[tariff.rounding].format(
        rate=format_euro(tariff.rate_per_minute, language),
        vat=format_percent(tariff.vat_percent, language),
        gross=format_euro(gross_per_minute(tariff), language),
    )
    if tariff.minimum_charge > 0:
        text += words["minimum"].format(minimum=format_euro(tariff.minimum_charge, language))
    return text
