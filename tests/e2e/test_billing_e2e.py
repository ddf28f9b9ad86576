"""A real short session through relay, host agent and viewer, billed by the invoice with
the operator's tariff, which the relay also sent to the host for its live display."""

import json
from datetime import UTC, datetime

from fernwartung.processes import Child

WAIT_SECONDS = 30.0


def test_a_real_session_appears_in_the_invoice_with_the_right_minutes(tmp_path):
    data_dir = tmp_path / "relay"
    children = []
    try:
        relay = Child("relay", ["relay", "--listen", "127.0.0.1:0", "--self-signed",
                                "--data-dir", str(data_dir), "--rate", "2.00", "--vat", "7"],
                      stderr_path=tmp_path / "relay.log")  # fmt: skip
        children.append(relay)
        fingerprint = relay.wait_for_line(lambda s: s.startswith("FINGERPRINT "), WAIT_SECONDS)
        url = relay.wait_for_line(lambda s: s.startswith("LISTENING "), WAIT_SECONDS).split()[1]
        fingerprint = fingerprint.split()[1]
        added = Child("technician", ["technician", "add", "Erika", "--data-dir", str(data_dir)],
                      stderr_path=tmp_path / "technician.log")  # fmt: skip
        status, output = added.finish(WAIT_SECONDS)
        assert status == 0
        host = Child("host", ["host", "--relay", url, "--fingerprint", fingerprint, "--ui",
                              "terminal", "--screen", "synthetic", "--lang", "en"],
                     stderr_path=tmp_path / "host.log", stdin=True)  # fmt: skip
        children.append(host)
        code = host.wait_for_line(lambda s: s.startswith("CODE: "), WAIT_SECONDS)[6:]
        viewer = Child("viewer", ["viewer", "--relay", url, "--fingerprint", fingerprint,
                                  "--code", code, "--ui", "headless", "--seconds", "2",
                                  "--customer", "KD-4711", "--no-record"],
                       stderr_path=tmp_path / "viewer.log",
                       env={"FERNWARTUNG_TOKEN": output[-1]})  # fmt: skip
        children.append(viewer)
        question = host.wait_for_line(lambda s: s.endswith("[n/v/c]"), WAIT_SECONDS)
        assert "2.00" in question or "2,00" in question  # the operator's rate, not the default
        host.write_line("v")
        assert viewer.wait(WAIT_SECONDS) == 0
        assert host.wait(WAIT_SECONDS) == 0
    finally:
        for child in reversed(children):
            child.stop()
    month = datetime.now(UTC).strftime("%Y-%m")
    invoice = Child("invoice", ["invoice", "--data-dir", str(data_dir), "--month", month,
                                "--format", "json"], stderr_path=tmp_path / "invoice.log")  # fmt: skip
    status, output = invoice.finish(WAIT_SECONDS)
    assert status == 0
    [line] = json.loads("\n".join(output))["sessions"]
    assert (line["technician"], line["customer"]) == ("Erika", "KD-4711")
    # A few seconds from consent to end is one started minute at 2.00 EUR + 7 % VAT.
    assert (line["billable_minutes"], line["net"], line["vat"], line["gross"]) == (
        "1", "2.00", "0.14", "2.14",
    )  # fmt: skip
