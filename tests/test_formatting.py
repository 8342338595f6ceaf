"""What payers read: money, dates and times the Colombian way, contact data masked."""

from __future__ import annotations

import datetime as dt

import pytest

from gaspay import formatting


@pytest.mark.parametrize(
    ("cents", "shown"),
    [
        (1_800_000, "$ 18.000"),
        (0, "$ 0"),
        (150_000, "$ 1.500"),
        (123_456_789_00, "$ 123.456.789"),
        (1_800_050, "$ 18.000,50"),
    ],
)
def test_money_is_pesos_with_dots_for_thousands(cents, shown):
    assert formatting.money(cents).replace("\xa0", " ") == shown


def test_dates_are_day_month_year_in_bogota():
    assert formatting.date(dt.date(2026, 4, 14)) == "14/04/2026"
    # 02:30 UTC on 15 April is still 14 April in Bogotá (UTC-5, no daylight saving).
    assert formatting.date(dt.datetime(2026, 4, 15, 2, 30, tzinfo=dt.UTC)) == "14/04/2026"
    assert formatting.date(None) == ""


def test_times_are_shown_in_bogota():
    shown = formatting.datetime(dt.datetime(2026, 4, 15, 2, 30, tzinfo=dt.UTC))
    assert shown.startswith("14/04/2026 09:30") and "p" in shown.lower()
    # A naive value from the database is UTC.
    assert formatting.datetime(dt.datetime(2026, 7, 1, 17, 5)).startswith("01/07/2026 12:05")


def test_contact_data_is_masked_but_recognisable():
    assert formatting.mask_email("usuario.demo@correo.test") == "us**********@co****.test"
    assert formatting.mask_phone("647 2050") == "***2050"
    assert formatting.mask_email(None) == "" and formatting.mask_phone("") == ""
