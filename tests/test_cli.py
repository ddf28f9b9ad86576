import subprocess
import sys

from fernwartung.cli import HANDLERS, build_parser


def test_help_lists_every_subcommand():
    result = subprocess.run(
        [sys.executable, "-m", "fernwartung", "--help"], capture_output=True, text=True, check=True
    )
    for command in ("relay", "technician", "host", "viewer", "recording", "invoice", "demo"):
        assert command in result.stdout
    assert set(HANDLERS) == {
        "relay",
        "technician",
        "host",
        "viewer",
        "recording",
        "invoice",
        "demo",
    }


def test_usage_error_exits_with_status_2():
    result = subprocess.run(
        [sys.executable, "-m", "fernwartung", "viewer", "--relay", "wss://x"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "--code" in result.stderr


def test_contract_flags_parse():
    args = build_parser().parse_args(
        ["viewer", "--relay", "wss://127.0.0.1:1", "--code", "482 139 072 261", "--seconds", "3"]
    )
    assert args.code == "482 139 072 261" and args.seconds == 3.0


def test_relay_limit_flags_reach_the_limits():
    from relay.main import limits_from

    args = build_parser().parse_args(
        ["relay", "--max-connections", "7", "--max-tls-handshakes", "3",
         "--max-tls-handshakes-per-ip", "1", "--max-sessions", "2"]
    )  # fmt: skip
    limits = limits_from(args)
    assert (limits.max_connections, limits.max_tls_handshakes) == (7, 3)
    assert (limits.max_tls_handshakes_per_ip, limits.max_sessions) == (1, 2)
