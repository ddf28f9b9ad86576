"""The command line: token sources, code forms, usage errors, exit statuses and messages."""

from __future__ import annotations

import argparse

import pytest

from fernwartung.cli import build_parser
from protocol.errors import (
    CertificateMismatch,
    CodeVoid,
    ConsentDenied,
    NotAuthorised,
    ProtocolError,
    RelayUnreachable,
    SessionEnded,
    WrongCode,
)
from viewer.main import UsageError, resolve_token, run, settings_from_args
from viewer.outcome import ExitStatus, outcome_for

TOKEN = "tok-abcdef0123456789"


def _args(*extra: str) -> argparse.Namespace:
    return build_parser().parse_args(
        ["viewer", "--relay", "wss://127.0.0.1:9", "--code", "1234 567-890", *extra]
    )


def test_the_token_comes_from_the_flag_first_then_the_environment() -> None:
    environment = {"FERNWARTUNG_TOKEN": "from-env"}
    assert resolve_token("from-flag", environment, interactive=False) == "from-flag"
    assert resolve_token(None, environment, interactive=False) == "from-env"


def test_without_flag_or_environment_the_token_is_asked_for_without_echo() -> None:
    prompts: list[str] = []

    def prompt(text: str) -> str:
        prompts.append(text)
        return TOKEN + "\n"

    assert resolve_token(None, {}, interactive=True, prompt=prompt) == TOKEN
    assert prompts and TOKEN not in prompts[0]


def test_a_missing_token_is_a_usage_error_that_does_not_hang() -> None:
    with pytest.raises(UsageError, match="FERNWARTUNG_TOKEN"):
        resolve_token(None, {}, interactive=False)


def test_a_code_is_accepted_however_it_is_typed() -> None:
    settings = settings_from_args(_args("--token", TOKEN), {}, interactive=False)
    assert settings.code.session == "1234" and settings.code.secret == "567890"
    assert TOKEN not in repr(settings) and "567890" not in repr(settings)


def test_usage_errors_exit_2_without_echoing_the_token_or_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = build_parser().parse_args(
        ["viewer", "--relay", "wss://127.0.0.1:9", "--code", "12ab", "--token", TOKEN]
    )
    assert run(args) == ExitStatus.USAGE
    err = capsys.readouterr().err
    assert "12ab" not in err and TOKEN not in err
    bad_pin = _args("--token", TOKEN, "--fingerprint", "abc")
    assert run(bad_pin) == ExitStatus.USAGE
    assert run(_args("--token", TOKEN, "--seconds", "0")) == ExitStatus.USAGE


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (WrongCode("x"), ExitStatus.WRONG_CODE),
        (CodeVoid("x"), ExitStatus.CODE_VOID),
        (NotAuthorised("x"), ExitStatus.NOT_AUTHORISED),
        (ConsentDenied("x"), ExitStatus.DENIED),
        (RelayUnreachable("x"), ExitStatus.RELAY_UNREACHABLE),
        (CertificateMismatch("x"), ExitStatus.CERTIFICATE_MISMATCH),
        (ProtocolError("x"), ExitStatus.ERROR),
    ],
)
def test_each_error_has_its_contract_exit_status(error: Exception, status: ExitStatus) -> None:
    assert outcome_for(error, established=True).status is status  # type: ignore[arg-type]
    assert int(status) == {
        ExitStatus.WRONG_CODE: 3, ExitStatus.CODE_VOID: 4, ExitStatus.NOT_AUTHORISED: 5,
        ExitStatus.DENIED: 6, ExitStatus.RELAY_UNREACHABLE: 7,
        ExitStatus.CERTIFICATE_MISMATCH: 8, ExitStatus.ERROR: 1,
    }[status]  # fmt: skip


def test_a_session_ending_is_normal_only_once_established() -> None:
    assert outcome_for(SessionEnded("bye"), established=True).status is ExitStatus.ENDED
    assert outcome_for(SessionEnded("bye"), established=False).status is ExitStatus.ERROR
