"""Invoices from the ledger: one line per billed session, totals that add up.

Times: the table shows local times (the TZ environment variable) with the zone named; CSV
and JSON keep UTC in ISO 8601.

A session is billed when the customer granted view or control and the session has ended:
from `consent_granted` to `ended`, as the relay saw it. Denied and failed sessions never
reach consent and cost nothing. A session belongs to the month (UTC) its consent began
in, so one that runs across midnight at the end of a month is billed once, in the month
it started. Money follows `protocol.billing` (one rounding rule, in one place).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from pathlib import Path

from protocol.billing import Bill, Tariff, bill, format_euro_german, price_text
from relay.database import Database, open_database


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    session: str
    technician: str
    customer: str
    start: datetime
    end: datetime
    billable_minutes: Decimal
    net: Decimal
    vat: Decimal
    gross: Decimal


@dataclass(frozen=True, slots=True)
class Invoice:
    month: str
    tariff: Tariff
    lines: tuple[InvoiceLine, ...]

    @property
    def net(self) -> Decimal:
        return sum((line.net for line in self.lines), Decimal("0.00"))

    @property
    def vat(self) -> Decimal:
        return sum((line.vat for line in self.lines), Decimal("0.00"))

    @property
    def gross(self) -> Decimal:
        return sum((line.gross for line in self.lines), Decimal("0.00"))


def check_month(month: str) -> str:
    try:
        datetime.strptime(month, "%Y-%m")
    except ValueError:
        raise ValueError("the month is written YYYY-MM, for example 2026-11") from None
    return month


@contextlib.contextmanager
def _reading(source: Path | Database) -> Iterator[Database]:
    """`source` itself, or the SQLite ledger in the data dir `source` opened read-only."""
    if isinstance(source, Database):
        yield source
        return
    database = open_database(None, data_dir=source, read_only=True)
    try:
        yield database
    finally:
        database.close()


def build_invoice(
    source: Path | Database,
    month: str,
    tariff: Tariff,
    technician: str | None = None,
    customer: str | None = None,
) -> Invoice:
    """Bill `month` (YYYY-MM, UTC) from a database, or from the ledger in a data dir (read
    only). The same sessions give the same invoice from SQLite and PostgreSQL."""
    check_month(month)
    with _reading(source) as database:
        rows = database.billable_sessions(month, technician, customer)
    lines = []
    for session, technician_name, customer_ref, granted, ended in rows:
        start, end = datetime.fromisoformat(granted), datetime.fromisoformat(ended)
        seconds = Decimal(str(max((end - start).total_seconds(), 0.0)))
        cost = bill(seconds, tariff)
        lines.append(
            InvoiceLine(
                session=session,
                technician=technician_name or "",
                customer=customer_ref or "",
                start=start,
                end=end,
                billable_minutes=cost.minutes,
                net=cost.net,
                vat=cost.vat,
                gross=cost.gross,
            )
        )
    return Invoice(month=month, tariff=tariff, lines=tuple(lines))


def _time(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def as_json(invoice: Invoice) -> str:
    def money(amount: Decimal) -> str:
        return f"{amount:.2f}"

    return json.dumps(
        {
            "month": invoice.month,
            "rate_per_minute": money(invoice.tariff.rate_per_minute),
            "vat_percent": str(invoice.tariff.vat_percent),
            "sessions": [
                {
                    "session": line.session,
                    "technician": line.technician,
                    "customer": line.customer,
                    "start": _time(line.start),
                    "end": _time(line.end),
                    "billable_minutes": str(line.billable_minutes),
                    "net": money(line.net),
                    "vat": money(line.vat),
                    "gross": money(line.gross),
                }
                for line in invoice.lines
            ],
            "totals": {
                "net": money(invoice.net),
                "vat": money(invoice.vat),
                "gross": money(invoice.gross),
            },
        },
        indent=2,
        ensure_ascii=False,
    )


CSV_COLUMNS = (
    "date", "session", "technician", "customer", "start", "end",
    "billable_minutes", "net", "vat", "gross",
)  # fmt: skip


def as_csv(invoice: Invoice) -> str:
    """Machine-readable: dot decimals, one row per session, then a TOTAL row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for line in invoice.lines:
        writer.writerow(
            [
                line.start.date().isoformat(), line.session, line.technician, line.customer,
                _time(line.start), _time(line.end), line.billable_minutes,
                f"{line.net:.2f}", f"{line.vat:.2f}", f"{line.gross:.2f}",
            ]
        )  # fmt: skip
    writer.writerow(
        ["TOTAL", "", "", "", "", "", "", f"{invoice.net:.2f}", f"{invoice.vat:.2f}",
         f"{invoice.gross:.2f}"]
    )  # fmt: skip
    return out.getvalue()


def zone_name(zone: tzinfo | None = None) -> str:
    """The local time zone as a person knows it: TZ's name (Europe/Berlin) when set, and
    its abbreviation and offset now (CET, UTC+01:00)."""
    now = datetime.now(UTC).astimezone(zone)
    offset = now.strftime("%z")
    name = now.tzname() or ""
    label = name if offset == "+0000" else f"{name}, UTC{offset[:3]}:{offset[3:]}"
    key = os.environ.get("TZ", "").lstrip(":") if zone is None else str(zone)
    return f"{key} ({label})" if key and "/" in key else label


def _local(moment: datetime, zone: tzinfo | None) -> datetime:
    return moment.astimezone(zone)


def as_table(invoice: Invoice, zone: tzinfo | None = None) -> str:
    """For people: amounts as a German invoice shows them (1.234,56 €), times in the
    local time zone (TZ; `zone` for tests), named in the header and at each time."""
    tariff = invoice.tariff
    header = (
        f"Rechnung / Invoice {invoice.month} (UTC)\n"
        f"Tarif: {price_text(tariff, 'de')}\n"
        f"Tariff: {price_text(tariff, 'en')}\n"
        f"Zeiten / times: {zone_name(zone)}"
    )
    columns = ("Datum", "Sitzung", "Techniker", "Kunde", "Beginn", "Ende", "Min.", "Netto")
    rows = []
    for line in invoice.lines:
        start, end = _local(line.start, zone), _local(line.end, zone)
        rows.append(
            (
                start.strftime("%d.%m.%Y"), line.session, line.technician, line.customer,
                start.strftime("%H:%M:%S %Z"), end.strftime("%H:%M:%S %Z"),
                str(line.billable_minutes).replace(".", ","), format_euro_german(line.net),
            )
        )  # fmt: skip
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    numeric = {6, 7}

    def render(cells: tuple[str, ...]) -> str:
        return "  ".join(
            cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
            for i, cell in enumerate(cells)
        ).rstrip()

    body = [header, "", render(columns), render(tuple("-" * w for w in widths))]
    body += [render(row) for row in rows] or ["(keine Sitzungen / no sessions)"]
    label_width = 28
    body += [
        "",
        f"{'Summe netto / Net total':<{label_width}}{format_euro_german(invoice.net):>16}",
        f"{f'USt. / VAT {tariff.vat_percent} %':<{label_width}}"
        f"{format_euro_german(invoice.vat):>16}",
        f"{'Gesamt brutto / Gross total':<{label_width}}{format_euro_german(invoice.gross):>16}",
    ]
    return "\n".join(body) + "\n"


def bill_for_session(source: Path | Database, session: str, tariff: Tariff) -> Bill:
    """The bill of the latest ended registration of `session` (zero if never consented)."""
    with _reading(source) as database:
        row = database.latest_ended(session)
    if row is None or row[0] is None:
        return bill(0, tariff)
    seconds = (datetime.fromisoformat(row[1]) - datetime.fromisoformat(row[0])).total_seconds()
    return bill(Decimal(str(max(seconds, 0.0))), tariff)
