"""The viewer opens to fit the customer's screen (point 11), its recording names the
technician and the customer's terms (point 13), and what it says is not doubled (point 18)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from host_agent import events as ui
from host_agent.agent import AgentSettings, HostAgent
from host_agent.evidence import terms_hash
from host_agent.inject import NoInjectionBackend
from host_agent.synthetic import SyntheticSource
from host_agent.texts import Texts
from protocol import messages
from protocol.codes import parse_code
from protocol.errors import ConsentDenied, RelayUnreachable, SessionEnded
from protocol.recording_reader import RecordReader
from tests.conftest import start_xvfb, stop_process
from tests.host_agent.harness import UiRecorder
from tests.support.relay import RelayInfo, add_technician, running_relay
from tests.viewer.processes import start_viewer
from viewer.client import ClientSettings, ViewerClient
from viewer.evidence import viewer_evidence
from viewer.outcome import customer_ended, outcome_for


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[RelayInfo]:
    async with running_relay(tmp_path / "relay") as info:
        yield info


async def start_host(relay: RelayInfo, terms: bytes = bytes(32)):  # noqa: ANN201
    recorder = UiRecorder()
    agent = HostAgent(
        AgentSettings(relay.url, relay.fingerprint, terms_hash=terms), Texts("en"),
        recorder.notify, SyntheticSource, NoInjectionBackend,
    )  # fmt: skip
    task = asyncio.create_task(agent.run())
    code = (await recorder.wait_for(ui.CodeReady)).spoken
    return agent, recorder, task, code


async def test_viewer_opens_to_show_the_customers_screen_whole_at_1_to_1(relay):
    """A 1280x720 screen on a technician's 1920x1080 one: not half size in 1024x700. (The
    viewer is a process of its own: Tk keeps its X connection, which must die with it.)"""
    process, display = start_xvfb(1920, 1080)
    agent, recorder, task, code = await start_host(relay)
    token = add_technician(relay.data_dir, "Fit")
    viewer, output = start_viewer(
        relay.url, code, token, "--ui", "tk", "--fingerprint", relay.fingerprint,
        "--seconds", "20", "--lang", "en", env=display.env(),
    )  # fmt: skip
    try:
        await recorder.wait_for(ui.ConsentAsked)
        agent.command(ui.Answer(messages.ConsentLevel.VIEW))
        shown = await asyncio.to_thread(output.wait_for, lambda line: "first frame shown" in line)
        assert "(1280x720 at 100 %)" in shown, shown
    finally:
        viewer.kill()
        viewer.wait(20)
        agent.command(ui.EndSession())
        await asyncio.wait_for(task, 20)
        stop_process(process)


async def test_the_viewers_recording_names_the_technician_and_the_terms(relay, tmp_path):
    terms = terms_hash("Bedingungen des Betreibers")
    agent, recorder, task, code = await start_host(relay, terms)
    token = add_technician(relay.data_dir, "Erika Technikerin")
    client = ViewerClient(
        ClientSettings(relay.url, parse_code(code), token, relay.fingerprint),
        evidence=viewer_evidence(tmp_path / "rec", relay.url),
    )
    run = asyncio.create_task(client.run())
    try:
        await recorder.wait_for(ui.ConsentAsked)
        agent.command(ui.Answer(messages.ConsentLevel.VIEW))
        await recorder.wait_for(ui.SharingChanged)
        agent.command(ui.EndSession())
        outcome = await asyncio.wait_for(run, 20)
        assert outcome.status == 0
    finally:
        await asyncio.wait_for(task, 20)
    [file] = (tmp_path / "rec").glob("*.fwrec")
    with file.open("rb") as stream:
        header = RecordReader(stream).read_header()
    assert header.technician == "Erika Technikerin"
    assert header.terms_hash == terms


def test_reasons_are_not_doubled():
    denied = outcome_for(ConsentDenied("the customer declined the session"), established=True)
    assert denied.message == "The customer declined the session"
    ended = outcome_for(SessionEnded(customer_ended("ended by the customer")), established=True)
    assert ended.message == "Session ended: the customer ended the session"
    plain = outcome_for(
        SessionEnded(customer_ended("the customer ended the session")), established=True
    )
    assert plain.message.count("ended the session") == 1


async def test_ws_to_a_tls_relay_says_to_use_wss(relay):
    from endpoint.relay_link import open_link

    plain = relay.url.replace("wss://", "ws://")
    with pytest.raises(RelayUnreachable) as raised:
        await open_link(plain, "/v1/host")
    assert "wss://" in str(raised.value) and "InvalidMessage" not in str(raised.value)
