"""The relay sends the operator's tariff to both sides and keeps the customer's consent
receipts in the ledger."""

from decimal import Decimal

from endpoint.relay_link import open_link
from protocol import control
from protocol.billing import Rounding, Tariff
from relay.database.tariffs import load_tariff
from relay.ledger import Ledger
from tests.relay.conftest import receive, register, viewer_link
from tests.support.relay import (
    add_technician,
    running_relay,
    start_relay_process,
    stop_relay_process,
)

OPERATOR_TARIFF = Tariff(Decimal("2.10"), Decimal("7"), Rounding.EXACT_SECONDS, Decimal("5"))


async def test_both_sides_get_the_operators_tariff(tmp_path):
    async with running_relay(tmp_path, tariff=OPERATOR_TARIFF) as relay:
        token = add_technician(tmp_path, "Alice")
        host_link = await open_link(relay.url, "/v1/host", fingerprint_pin=relay.fingerprint)
        await host_link.send_control(control.Register(version=1))
        registered = await receive(host_link)
        assert registered.tariff() == OPERATOR_TARIFF
        viewer = await viewer_link(relay, token)
        await viewer.send_control(control.Join(session=registered.session, version=1))
        joined = await receive(viewer)
        assert joined.tariff() == OPERATOR_TARIFF
        for link in (host_link, viewer):
            await link.close()


async def test_consent_receipts_are_kept_with_what_the_customer_was_shown(tmp_path):
    async with running_relay(tmp_path) as relay:
        token = add_technician(tmp_path, "Alice")
        host, session = await register(relay)
        viewer = await viewer_link(relay, token)
        await viewer.send_control(control.Join(session=session, version=1))
        await receive(viewer)
        await receive(host)
        shown = {"technician": "Alice", "rate_per_minute": "1.40", "vat_percent": "19",
                 "terms_hash": "ab" * 32}  # fmt: skip
        await host.send_control(control.Consent(control.ReportedConsent.CONTROL, **shown))
        await host.send_control(control.Consent(control.ReportedConsent.VIEW, **shown))
        await host.send_control(control.End(reason="done"))
        await viewer.close()
        await host.close()
    ledger = Ledger(tmp_path)
    try:
        receipts = ledger.consent_rows()
        [row] = ledger.session_rows()
    finally:
        ledger.close()
    assert [(r["level"], r["technician"], r["rate_per_minute"], r["vat_percent"], r["terms_hash"])
            for r in receipts] == [
        ("control", "Alice", "1.40", "19", "ab" * 32),
        ("view", "Alice", "1.40", "19", "ab" * 32),
    ]  # fmt: skip
    assert row["consent_granted"] is not None and row["consent_level"] == "view"


def test_relay_tariff_flags_are_saved_for_the_invoice(tmp_path):
    process, _url, _ = start_relay_process(
        tmp_path, "--rate", "2,10", "--vat", "7", "--rounding", "exact"
    )
    assert stop_relay_process(process) == 0
    assert load_tariff(tmp_path) == Tariff(Decimal("2.10"), Decimal("7"), Rounding.EXACT_SECONDS)
