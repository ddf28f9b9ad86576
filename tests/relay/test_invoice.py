"""Invoices from a ledger of known sessions: exact amounts, totals that add up."""

import csv
import io
import json
import os
import subprocess
import sys
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from protocol.billing import Rounding, Tariff, bill, format_euro_german, price_text
from relay.database.tariffs import load_tariff, save_tariff
from relay.invoice import as_csv, as_json, as_table, build_invoice
from relay.ledger import Ledger

# session, technician, customer, consent granted, ended, end reason
KNOWN_SESSIONS = [
    ("100001", "Anna", "K-1", "2026-10-05T10:00:00.000+00:00", "2026-10-05T10:12:30.000+00:00", "host_ended"),
    ("100002", "Ben", "K-2", "2026-10-31T23:50:00.000+00:00", "2026-11-01T00:20:00.000+00:00", "viewer_ended"),
    ("100003", "Anna", "K-3", None, "2026-10-06T09:00:00.000+00:00", "host_ended"),  # denied
    ("100004", "Ben", "", None, "2026-10-07T09:00:00.000+00:00", "void"),  # failed
    ("100005", "Anna", "K-1", "2026-10-10T08:00:00.000+00:00", "2026-10-10T08:00:00.000+00:00", "host_ended"),
    ("100006", "Anna", "K-2", "2026-10-11T09:00:00.000+00:00", "2026-10-11T09:01:00.000+00:00", "host_ended"),
    ("100007", "Ben", "K-1", "2026-10-12T09:00:00.000+00:00", "2026-10-12T09:01:00.001+00:00", "host_ended"),
    ("100008", "Ben", "K-1", "2026-10-13T09:00:00.000+00:00", None, None),  # still running
]  # fmt: skip

EXPECTED_OCTOBER = {  # session -> (minutes, net, vat, gross)
    "100001": ("13", "18.20", "3.46", "21.66"),
    "100002": ("30", "42.00", "7.98", "49.98"),
    "100005": ("0", "0.00", "0.00", "0.00"),
    "100006": ("1", "1.40", "0.27", "1.67"),
    "100007": ("2", "2.80", "0.53", "3.33"),
}


@pytest.fixture
def ledger_dir(tmp_path):
    ledger = Ledger(tmp_path)
    for number, technician, customer, granted, ended, reason in KNOWN_SESSIONS:
        row_id = ledger.open_session(number)
        with ledger.backend.transaction() as tx:
            tx.execute(
                "UPDATE sessions SET technician = ?, customer = ?, paired = registered, "
                "consent_granted = ?, ended = ?, end_reason = ? WHERE id = ?",
                (technician, customer, granted, ended, reason, row_id),
            )
    ledger.close()
    return tmp_path


def test_october_invoice_has_exact_amounts(ledger_dir):
    invoice = build_invoice(ledger_dir, "2026-10", Tariff())
    got = {
        line.session: (str(line.billable_minutes), f"{line.net}", f"{line.vat}", f"{line.gross}")
        for line in invoice.lines
    }
    assert got == EXPECTED_OCTOBER
    assert (invoice.net, invoice.vat, invoice.gross) == (
        Decimal("64.40"),
        Decimal("12.24"),
        Decimal("76.64"),
    )


def test_totals_equal_the_sum_of_the_lines(ledger_dir):
    invoice = build_invoice(ledger_dir, "2026-10", Tariff(vat_percent=Decimal("7")))
    assert invoice.net == sum(line.net for line in invoice.lines)
    assert invoice.vat == sum(line.vat for line in invoice.lines)
    assert invoice.gross == invoice.net + invoice.vat


def test_session_across_the_month_boundary_is_billed_once_in_its_start_month(ledger_dir):
    november = build_invoice(ledger_dir, "2026-11", Tariff())
    assert [line.session for line in november.lines] == []


def test_denied_failed_and_running_sessions_cost_nothing(ledger_dir):
    sessions = {line.session for line in build_invoice(ledger_dir, "2026-10", Tariff()).lines}
    assert not sessions & {"100003", "100004", "100008"}


def test_filters_by_technician_and_customer(ledger_dir):
    anna = build_invoice(ledger_dir, "2026-10", Tariff(), technician="Anna")
    assert {line.session for line in anna.lines} == {"100001", "100005", "100006"}
    k1 = build_invoice(ledger_dir, "2026-10", Tariff(), customer="K-1")
    assert {line.session for line in k1.lines} == {"100001", "100005", "100007"}


def test_csv_and_json_parse_back_to_the_same_numbers(ledger_dir):
    invoice = build_invoice(ledger_dir, "2026-10", Tariff())
    data = json.loads(as_json(invoice))
    assert {
        s["session"]: (s["billable_minutes"], s["net"], s["vat"], s["gross"])
        for s in data["sessions"]
    } == EXPECTED_OCTOBER
    assert data["totals"] == {"net": "64.40", "vat": "12.24", "gross": "76.64"}
    rows = list(csv.DictReader(io.StringIO(as_csv(invoice))))
    total = rows.pop()
    assert {
        r["session"]: (r["billable_minutes"], r["net"], r["vat"], r["gross"]) for r in rows
    } == EXPECTED_OCTOBER
    assert (total["date"], total["net"], total["vat"], total["gross"]) == (
        "TOTAL",
        "64.40",
        "12.24",
        "76.64",
    )
    assert sum(Decimal(r["net"]) for r in rows) == Decimal(total["net"])


def test_table_shows_amounts_as_a_german_invoice_does(ledger_dir):
    table = as_table(build_invoice(ledger_dir, "2026-10", Tariff()))
    assert "64,40 €" in table and "12,24 €" in table and "76,64 €" in table
    assert "31.10.2026" in table
    assert format_euro_german(Decimal("1234.5")) == "1.234,50 €"


def test_rounding_rules_and_minimum_charge():
    assert bill(90, Tariff(rounding=Rounding.EXACT_SECONDS)).net == Decimal("2.10")
    assert bill(90, Tariff()).net == Decimal("2.80")
    assert bill(10, Tariff(minimum_charge=Decimal("5"))).net == Decimal("5.00")
    assert bill(0, Tariff(minimum_charge=Decimal("5"))).net == Decimal("0.00")


def test_tariff_file_round_trips(tmp_path):
    tariff = Tariff(Decimal("2.10"), Decimal("7"), Rounding.EXACT_SECONDS, Decimal("10"))
    save_tariff(tmp_path, tariff)
    assert load_tariff(tmp_path) == tariff


def test_invoice_command_prints_json_and_refuses_a_bad_month(ledger_dir):
    command = [sys.executable, "-m", "fernwartung", "invoice", "--data-dir", str(ledger_dir)]
    result = subprocess.run([*command, "--month", "2026-10", "--format", "json"],
                            capture_output=True, text=True, check=True)  # fmt: skip
    assert json.loads(result.stdout)["totals"]["gross"] == "76.64"
    rate = subprocess.run([*command, "--month", "2026-10", "--format", "json", "--rate", "2"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    assert json.loads(rate.stdout)["totals"]["net"] == "92.00"
    bad = subprocess.run([*command, "--month", "Oktober"], capture_output=True, text=True)
    assert bad.returncode == 2 and "YYYY-MM" in bad.stderr


@pytest.mark.parametrize("form", ["table", "csv", "json"])
@pytest.mark.parametrize(
    "filters", [["--month", "2026-12"], ["--month", "2026-10", "--technician", "nobody"]]
)
def test_an_invoice_without_sessions_is_an_empty_invoice_not_a_traceback(ledger_dir, form, filters):
    """Issue 21, point 14."""
    result = subprocess.run(
        [sys.executable, "-m", "fernwartung", "invoice", "--data-dir", str(ledger_dir),
         *filters, "--format", form],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    if form == "table":
        assert "keine Sitzungen / no sessions" in result.stdout and "0,00 €" in result.stdout
    elif form == "json":
        assert json.loads(result.stdout)["totals"] == {
            "net": "0.00",
            "vat": "0.00",
            "gross": "0.00",
        }


def test_table_times_are_local_with_the_zone_named_and_csv_json_stay_utc(ledger_dir):
    """Issue 21, point 15: 10:00 UTC on 5 October is 12:00 summer time in Berlin, and
    23:50 UTC on 31 October is 00:50 CET on 1 November."""
    berlin = ZoneInfo("Europe/Berlin")
    invoice = build_invoice(ledger_dir, "2026-10", Tariff())
    table = as_table(invoice, berlin)
    assert "Europe/Berlin" in table
    assert "12:00:00 CEST" in table  # 2026-10-05 10:00 UTC
    assert "01.11.2026" in table and "00:50:00 CET" in table  # 2026-10-31 23:50 UTC
    data = json.loads(as_json(invoice))
    assert data["sessions"][0]["start"] == "2026-10-05T10:00:00+00:00"
    rows = list(csv.DictReader(io.StringIO(as_csv(invoice))))
    assert rows[0]["start"] == "2026-10-05T10:00:00+00:00"


def test_invoice_command_follows_tz(ledger_dir):
    result = subprocess.run(
        [sys.executable, "-m", "fernwartung", "invoice", "--data-dir", str(ledger_dir),
         "--month", "2026-10"],
        capture_output=True, text=True, check=True, env={**os.environ, "TZ": "Europe/Berlin"},
    )  # fmt: skip
    assert "12:00:00 CEST" in result.stdout and "Europe/Berlin" in result.stdout


def test_invoice_words_the_tariff_as_both_programs_do(ledger_dir):
    table = as_table(build_invoice(ledger_dir, "2026-10", Tariff()))
    assert price_text(Tariff(), "de") in table and price_text(Tariff(), "en") in table
    assert "pro angefangene Minute zzgl. 19 % MwSt." in table
