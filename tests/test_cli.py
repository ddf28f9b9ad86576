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


def _all_actions(parser, path=()):
    """(subcommand path, action) for every option and argument of every subcommand."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _all_actions(child, (*path, name))
        elif not isinstance(action, argparse._HelpAction):
            yield path, action


def test_every_flag_has_a_description_and_says_its_default():
    """Issue 21, point 17: `--help` describes every flag, and a flag with a default names it."""
    undescribed = []
    silent_defaults = []
    for path, action in _all_actions(build_parser()):
        name = " ".join((*path, action.option_strings[0] if action.option_strings else action.dest))
        if not action.help:
            undescribed.append(name)
        elif action.default not in (None, False) and "default" not in action.help:
            silent_defaults.append(name)
    assert not undescribed, undescribed
    assert not silent_defaults, silent_defaults


def test_relay_help_shows_the_limits_defaults():
    result = subprocess.run(
        [sys.executable, "-m", "fernwartung", "relay", "--help"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "how long a code is valid (default: 600)" in " ".join(result.stdout.split())


def test_technician_list_without_a_data_dir_refuses_and_creates_nothing(tmp_path):
    """Issue 21, point 17: no silent ./fernwartung-data/."""
    result = subprocess.run(
        [sys.executable, "-m", "fernwartung", "technician", "list"],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--data-dir" in result.stderr and "Datenordner" in result.stderr
    assert list(tmp_path.iterdir()) == []
