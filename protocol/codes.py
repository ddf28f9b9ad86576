"""One-time codes: the relay's session number plus a secret drawn on the host.

The code a customer reads aloud is all digits: the session number (routing only, known to
the relay) followed by the secret (known only to host and viewer, the PAKE password).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from protocol.errors import InvalidCode

SECRET_DIGITS = 6
SESSION_DIGITS_MIN = 4
SESSION_DIGITS_MAX = 12
GROUP_DIGITS = 3

_SEPARATORS = re.compile(r"[\s.\-]+")


@dataclass(frozen=True, slots=True)
class Code:
    """A parsed one-time code. `repr` hides the secret so it never lands in a log."""

    session: str
    secret: str

    def __post_init__(self) -> None:
        if not (self.session.isascii() and self.session.isdigit()):
            raise InvalidCode("the session number must be digits only")
        if not SESSION_DIGITS_MIN <= len(self.session) <= SESSION_DIGITS_MAX:
            raise InvalidCode(
                f"the session number must have {SESSION_DIGITS_MIN} to {SESSION_DIGITS_MAX} digits"
            )
        if not (self.secret.isascii() and self.secret.isdigit()) or len(self.secret) != (
            SECRET_DIGITS
        ):
            raise InvalidCode(f"the secret part must be exactly {SECRET_DIGITS} digits")

    def __repr__(self) -> str:
        return f"Code(session={self.session!r}, secret=<hidden>)"

    def digits(self) -> str:
        """The code as one run of digits."""
        return self.session + self.secret

    def spoken(self) -> str:
        """The code grouped for reading aloud, e.g. ``482 139 072 261``."""
        return format_digits(self.digits())


def draw_secret() -> str:
    """A fresh secret from the operating system's random source."""
    return "".join(str(secrets.randbelow(10)) for _ in range(SECRET_DIGITS))


def new_code(session: str) -> Code:
    """A code for a session number the relay just gave, with a freshly drawn secret."""
    return Code(session=session, secret=draw_secret())


def format_digits(digits: str) -> str:
    """Group digits in threes from the left; a last lone digit joins the group before it."""
    groups = [digits[i : i + GROUP_DIGITS] for i in range(0, len(digits), GROUP_DIGITS)]
    if len(groups) > 1 and len(groups[-1]) == 1:
        last = groups.pop()
        groups[-1] += last
    return " ".join(groups)


def parse_code(text: str) -> Code:
    """Read a code however it was typed: spaces, dashes and dots are ignored.

    Raises InvalidCode with a sentence that never repeats the typed text.
    """
    compact = _SEPARATORS.sub("", text)
    if not compact:
        raise InvalidCode("no code was given")
    if not (compact.isascii() and compact.isdigit()):
        raise InvalidCode("a code has digits only (spaces, dashes and dots may separate them)")
    total_min = SESSION_DIGITS_MIN + SECRET_DIGITS
    total_max = SESSION_DIGITS_MAX + SECRET_DIGITS
    if not total_min <= len(compact) <= total_max:
        raise InvalidCode(
            f"a code has {total_min} to {total_max} digits; this one has {len(compact)}"
        )
    return Code(session=compact[:-SECRET_DIGITS], secret=compact[-SECRET_DIGITS:])
