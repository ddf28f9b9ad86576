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
