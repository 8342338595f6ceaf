"""The overview: collected today and this month by method, pending now, under review, and the
last 30 days of daily collections as an SVG bar chart drawn on the server by pygal (the same
numbers are on the page as a table)."""

from __future__ import annotations

import datetime as dt
import re
import sys
from dataclasses import dataclass

from sqlalchemy import func, select

from gaspay.extensions import db
from gaspay.formatting import money
from gaspay.payments import transitions as T
from gaspay.payments.models import PaymentAttempt
from gaspay.staff.payments import METHODS, day_bounds
from gaspay.staff.reviews import open_count
from gaspay.timeutil import BOGOTA, as_utc, today_in_bogota

A = PaymentAttempt
DAYS = 30
SCRIPT_RE = re.compile(r"<script\b[^>]*>.*?</script>|<script\b[^>]*/>", re.S)


@dataclass
class Overview:
    today: dt.date
    today_by_method: list[tuple[str, int, int]]  # label, count, cents
    month_by_method: list[tuple[str, int, int]]
    pending_count: int
    pending_cents: int
    review_count: int
    daily: list[tuple[dt.date, int, int]]  # day, count, cents (last 30 days, oldest first)

    @staticmethod
    def total(rows) -> tuple[int, int]:
        return sum(r[1] for r in rows), sum(r[2] for r in rows)


def _approved_by_method(slug: str, start: dt.date, end: dt.date) -> list[tuple[str, int, int]]:
    low, high = day_bounds(start, end)
    rows = db.session.execute(
        select(A.payment_method, func.count(), func.sum(A.amount_cents))
        .where(
            A.tenant == slug,
            A.status == T.APPROVED,
            A.finalized_at >= low,
            A.finalized_at < high,
        )
        .group_by(A.payment_method)
    ).all()
    labelled = [(METHODS.get(m or "", m or "Sin medio"), int(n), int(c or 0)) for m, n, c in rows]
    return sorted(labelled, key=lambda r: -r[2])


def daily_collections(slug: str, today: dt.date, days: int = DAYS):
    """(day, count, cents) for each of the last `days` Colombian days, zeros included.

    Approval instants (two narrow columns over the tenant's approval index) are bucketed here
    by Colombian date, which keeps the query the same on SQLite and PostgreSQL.
    """
    first = today - dt.timedelta(days=days - 1)
    low, high = day_bounds(first, today)
    buckets = {first + dt.timedelta(days=i): [0, 0] for i in range(days)}
    rows = db.session.execute(
        select(A.finalized_at, A.amount_cents)
        .where(
            A.tenant == slug,
            A.status == T.APPROVED,
            A.finalized_at >= low,
            A.finalized_at < high,
        )
        .execution_options(yield_per=5000)
    )
    for moment, cents in rows:
        bucket = buckets.get(as_utc(moment).astimezone(BOGOTA).date())
        if bucket is not None:
            bucket[0] += 1
            bucket[1] += cents
    return [(day, n, c) for day, (n, c) in buckets.items()]


def overview(slug: str) -> Overview:
    today = today_in_bogota()
    pending = db.session.execute(
        select(func.count(), func.coalesce(func.sum(A.amount_cents), 0)).where(
            A.tenant == slug, A.status.in_(sorted(T.LIVE))
        )
    ).one()
    return Overview(
        today=today,
        today_by_method=_approved_by_method(slug, today, today),
        month_by_method=_approved_by_method(slug, today.replace(day=1), today),
        pending_count=int(pending[0]),
        pending_cents=int(pending[1]),
        review_count=open_count(slug),
        daily=daily_collections(slug, today),
    )


def _pygal():
    """pygal, without the import hook it adds for its map plugins.

    pygal appends a legacy finder to ``sys.meta_path`` that only serves ``pygal.maps.*``
    plugins (unused here); on Python 3.11+ every failed import elsewhere then warns
    (ImportWarning, an error under ``filterwarnings = error``). Removing it changes nothing else.
    """
    import pygal

    sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "PluginImportFixer"]
    return pygal


def chart_svg(daily: list[tuple[dt.date, int, int]], brand: str) -> str:
    """A bar chart of the daily collections, as a standalone SVG document (no scripts)."""
    pygal = _pygal()
    from pygal.style import Style

    style = Style(
        background="#ffffff",
        plot_background="#ffffff",
        foreground="#1a1a1a",
        foreground_strong="#1a1a1a",
        foreground_subtle="#555555",
        colors=(brand,),
        font_family="system-ui, Arial, sans-serif",
        label_font_size=11,
        major_label_font_size=11,
        title_font_size=16,
    )
    chart = pygal.Bar(
        style=style,
        width=900,
        height=360,
        js=[],  # no script in the document (the CSP forbids it anyway)
        show_legend=False,
        title="Recaudo diario, últimos 30 días",
        x_label_rotation=-45,
        show_minor_x_labels=False,
        x_labels_major_every=3,
        value_formatter=lambda pesos: money(round(pesos * 100)),
        margin=16,
        disable_xml_declaration=False,
    )
    chart.x_labels = [day.strftime("%d/%m") for day, _n, _c in daily]
    chart.add("Recaudo", [cents / 100 for _day, _n, cents in daily])
    # pygal always embeds a small config script for its tooltips; an <img> never runs it and
    # the chart's CSP forbids it, so it is left out of the document altogether.
    return SCRIPT_RE.sub("", chart.render(is_unicode=True))
