import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.codes import SECRET_DIGITS, Code, format_digits, new_code, parse_code
from protocol.errors import InvalidCode


def test_new_code_is_session_plus_fresh_secret_digits_only():
    code = new_code("482139")
    assert code.session == "482139"
    assert len(code.secret) == SECRET_DIGITS and code.secret.isdigit()
    assert code.digits() == "482139" + code.secret


def test_secrets_differ_between_codes():
    assert len({new_code("482139").secret for _ in range(50)}) > 40


def test_spoken_code_is_grouped_for_reading_aloud():
    assert Code("482139", "072261").spoken() == "482 139 072 261"
    assert format_digits("1234567") == "123 4567"


@pytest.mark.parametrize(
    "typed",
    ["482139072261", "482 139 072 261", "482-139-072-261", "482.139.072.261", " 482 139-072.261 "],
)
def test_parsing_forgives_spaces_dashes_and_dots(typed):
    assert parse_code(typed) == Code("482139", "072261")


@pytest.mark.parametrize("typed", ["", "   ", "48213907226a", "482139/072261", "12345", "1" * 30])
def test_anything_else_is_a_clear_error(typed):
    with pytest.raises(InvalidCode):
        parse_code(typed)


def test_error_text_and_repr_never_contain_the_secret():
    code = Code("482139", "072261")
    assert "072261" not in repr(code)
    with pytest.raises(InvalidCode) as info:
        parse_code("482139072261x")
    assert "072261" not in str(info.value)


@given(st.text(max_size=40))
def test_parse_code_only_raises_invalid_code(text):
    try:
        code = parse_code(text)
    except InvalidCode:
        return
    assert code.digits().isdigit()
