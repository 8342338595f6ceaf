"""Client numbers and payment references as payers type them and as bills print them."""

from __future__ import annotations

import re

VALID = re.compile(r"^[0-9A-Z]{1,40}$")
SEPARATORS = re.compile(r"[\s.\-]+")


class InvalidNumber(ValueError):
    """The text cannot be a client number or payment reference."""


def normalise_number(raw: str | None) -> str:
    """`0021053`, `21053` and ` 21053 ` are the same client: `21053`.

    Spaces, dots and dashes are dropped, letters upper-cased and leading zeros removed, because
    bills print numbers zero-padded and the guides tell payers to drop the zeros.
    """
    text = SEPARATORS.sub("", (raw or "").strip()).upper()
    if not text or not VALID.match(text):
        raise InvalidNumber(raw)
    text = text.lstrip("0")
    if not text:
        raise InvalidNumber(raw)
    return text
