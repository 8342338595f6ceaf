"""How payers see money and time: es-CO, `$ 18.000`, `14/04/2026`, America/Bogota."""

from __future__ import annotations

import datetime as dt
import functools
import re
from decimal import Decimal

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import parse_pattern

from gaspay.timeutil import BOGOTA, as_utc

LOCALE = "es_CO"
_LOCALE = Locale.parse(LOCALE)
_WHOLE = parse_pattern("¤ #,##0")  # parsed once: pages format many amounts
_CENTS = parse_pattern("¤ #,##0.00")


@functools.lru_cache(maxsize=8192)  # a pure function of two values; Babel's apply is the cost
def money(cents: int, currency: str = "COP") -> str:
    """Whole pesos without decimals; centavos only when a bill really has them."""
    if cents % 100:
        return _CENTS.apply(Decimal(cents) / 100, _LOCALE, currency=currency, currency_digits=False)
    return _WHOLE.apply(cents // 100, _LOCALE, currency=currency, currency_digits=False)


def date(value: dt.date | dt.datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = as_utc(value).astimezone(BOGOTA).date()
    return _day(value)


@functools.lru_cache(maxsize=4096)
def _day(value: dt.date) -> str:
    return format_date(value, "dd/MM/yyyy", locale=LOCALE)


def datetime(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    return format_datetime(as_utc(value), "dd/MM/yyyy hh:mm a", tzinfo=BOGOTA, locale=LOCALE)


def mask_email(email: str | None) -> str:
    """`usuario.demo@correo.com` -> `us**********@co****.com`: recognisable, not readable."""
    if not email or "@" not in email:
        return ""
    user, _, domain = email.partition("@")
    host, dot, tld = domain.rpartition(".")
    if not dot:
        host, tld = domain, ""
    keep = user[:2] if len(user) > 2 else user[:1]
    masked_host = host[:2] + "*" * max(len(host) - 2, 1)
    return f"{keep}{'*' * max(len(user) - len(keep), 1)}@{masked_host}{dot}{tld}"


def mask_phone(phone: str | None) -> str:
    digits = "".join(ch for ch in phone or "" if ch.isdigit())
    if not digits:
        return ""
    return "*" * max(len(digits) - 4, 0) + digits[-4:]


PESOS = re.compile(r"^\d{1,3}(\.\d{3})+$|^\d{1,12}$")


def parse_pesos(text: str | None) -> int | None:
    """A whole amount of pesos as a payer types it (`10000`, `10.000`, `$ 10.000`), in cents."""
    value = re.sub(r"[\s$]", "", text or "")
    if value.endswith(",00"):
        value = value[:-3]
    if not PESOS.match(value):
        return None
    cents = int(value.replace(".", "")) * 100
    return cents if cents > 0 else None
