"""The input script format: parsing into messages, and refusing bad lines with their number."""

from __future__ import annotations

import pytest

from protocol import messages
from viewer.input_script import InputScriptError, parse_input_script


def test_every_step_kind_becomes_the_right_messages() -> None:
    steps = parse_input_script(
        [
            "# comments and blank lines are skipped",
            "",
            '{"at": 0.5, "type": "move", "x": 10, "y": 20}',
            '{"at": 0.6, "type": "click", "x": 10, "y": 20}',
            '{"at": 0.7, "type": "press", "x": 1, "y": 2, "button": "right"}',
            '{"at": 0.8, "type": "release", "x": 1, "y": 2, "button": "right"}',
            '{"at": 0.9, "type": "scroll", "x": 5, "y": 6, "dy": -3}',
            '{"at": 1.0, "type": "type", "text": "a\\n"}',
            '{"at": 1.5, "type": "key", "key": "c", "modifiers": ["Control_L"]}',
            '{"at": 1.6, "type": "key_down", "key": "Shift_L"}',
            '{"at": 1.7, "type": "key_up", "key": "Shift_L"}',
        ]
    )
    assert [step.at for step in steps] == [0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.5, 1.6, 1.7]
    assert steps[0].messages == (messages.PointerMove(10, 20),)
    assert steps[1].messages == (
        messages.PointerMove(10, 20),
        messages.PointerButton(10, 20, messages.Button.LEFT, True),
        messages.PointerButton(10, 20, messages.Button.LEFT, False),
    )
    assert steps[2].messages == (messages.PointerButton(1, 2, messages.Button.RIGHT, True),)
    assert steps[4].messages == (messages.Scroll(5, 6, 0, -3),)
    assert steps[5].messages == (
        messages.Key("a", True),
        messages.Key("a", False),
        messages.Key("Return", True),
        messages.Key("Return", False),
    )
    assert steps[6].messages == (
        messages.Key("Control_L", True),
        messages.Key("c", True),
        messages.Key("c", False),
        messages.Key("Control_L", False),
    )
    assert steps[7].messages == (messages.Key("Shift_L", True),)


@pytest.mark.parametrize(
    ("line", "complaint"),
    [
        ("not json", "line 1"),
        ('{"type": "move", "x": 1, "y": 1}', "'at'"),
        ('{"at": -1, "type": "move", "x": 1, "y": 1}', "'at'"),
        ('{"at": 1, "type": "jump"}', "'type'"),
        ('{"at": 1, "type": "move", "x": 1.5, "y": 1}', "whole pixels"),
        ('{"at": 1, "type": "move", "x": 99999, "y": 1}', "line 1"),
        ('{"at": 1, "type": "key", "key": "NoSuchKey"}', "'key'"),
        ('{"at": 1, "type": "click", "x": 1, "y": 1, "button": "thumb"}', "line 1"),
        ("[1, 2]", "JSON object"),
    ],
)
def test_bad_lines_are_refused_naming_the_line(line: str, complaint: str) -> None:
    with pytest.raises(InputScriptError, match=complaint):
        parse_input_script([line])


def test_steps_must_be_in_order_of_time() -> None:
    with pytest.raises(InputScriptError, match="line 2: steps must be in order"):
        parse_input_script(
            [
                '{"at": 2, "type": "move", "x": 1, "y": 1}',
                '{"at": 1, "type": "move", "x": 1, "y": 1}',
            ]
        )
