"""Finding a payment: the search by every key, the filtered list (Colombian dates, status,
method, bank, keyset pages, totals), the payment page, "Consultar ahora" and notes."""

from __future__ import annotations

import datetime as dt

import requests
from sqlalchemy import event as sa_event
from sqlalchemy import select

from gaspay.extensions import db
from gaspay.payments import services
from gaspay.payments.models import AttemptTransition, PaymentAttempt
from gaspay.staff import payments as P
from gaspay.staff.models import StaffAudit, StaffNote
from gaspay.timeutil import BOGOTA, today_in_bogota
from tests import fakes
from tests.payments_helpers import answer, open_pse_attempt
from tests.staff.conftest import make_staff, page_csrf, set_approved_at, sign_in

BASE = "/insesp/empresa"


def refs(slug: str, **filters) -> list[str]:
    db.session.rollback()
    return [a.reference for a in P.list_payments(slug, P.Filters(**filters)).attempts]


def test_search_finds_a_payment_by_every_key(app, approved, insesp):
    attempt, _bill = approved(insesp, client="0021053", cus="CUS-777", bill_number="FG-9-DEMO")
    approved(insesp, client="0099999", cus="CUS-OTHER")  # noise
    for text in (
        attempt.reference,
        attempt.reference.lower(),
        "0021053",
        "21053",
        "FG-9-DEMO",
        "CUS-777",
        attempt.gateway_txn_id,
        "1020304050",
        "1.020.304.050",
        "u@correo.test",
        "U@Correo.test".lower(),
    ):
        found = refs("insesp", text=text)
        assert attempt.reference in found, text
        if text not in ("1020304050", "1.020.304.050", "u@correo.test"):
            assert len(found) == 1, text
    assert refs("insesp", text="no-existe") == []


def test_search_never_crosses_tenants(app, approved, insesp, interservicios):
    mine, _ = approved(insesp, client="100245")
    theirs, _ = approved(interservicios, client="100245")
    assert refs("insesp", text="100245") == [mine.reference]
    assert refs("insesp", text=theirs.reference) == []


def test_list_filters_by_colombian_dates_status_method_and_bank(app, approved, insesp, make_bill):
    late, _ = approved(insesp, client="1")
    early, _ = approved(insesp, client="2")
    # 23:30 in Bogota on the 14th is 04:30 UTC on the 15th: it belongs to the 14th.
    set_approved_at(late, dt.datetime(2026, 4, 15, 4, 30, tzinfo=dt.UTC))
    set_approved_at(early, dt.datetime(2026, 4, 14, 5, 30, tzinfo=dt.UTC))  # 00:30 on the 14th
    pending = open_pse_attempt(
        insesp, make_bill(client="3"), bank_name="DAVIVIENDA", payment_method="PSE"
    )
    day = dt.date(2026, 4, 14)
    assert set(refs("insesp", start=day, end=day)) == {late.reference, early.reference}
    assert refs("insesp", start=dt.date(2026, 4, 15), end=dt.date(2026, 4, 15)) == []
    assert refs("insesp", status="created") == [pending.reference]
    assert set(refs("insesp", status="approved")) == {late.reference, early.reference}
    assert refs("insesp", bank="davi") == [pending.reference]
    assert set(refs("insesp", method="PSE")) == {late.reference, early.reference, pending.reference}
    assert refs("insesp", method="CARD") == []


def test_the_bank_filter_reads_the_tenants_bank_names_then_filters_by_equality(
    app, insesp, interservicios, make_bill
):
    bogota = open_pse_attempt(insesp, make_bill(client="11"), bank_name="Banco de Bogotá")
    davi = open_pse_attempt(insesp, make_bill(client="12"), bank_name="DAVIVIENDA")
    open_pse_attempt(insesp, make_bill(client="13"))  # no bank yet: never a bank's payment
    theirs = make_bill(tenant="interservicios", client="14")
    open_pse_attempt(interservicios, theirs, bank_name="Banco de Bogotá Otro")
    db.session.rollback()
    assert P.known_banks("insesp") == ["Banco de Bogotá", "DAVIVIENDA"]  # theirs is not listed
    assert refs("insesp", bank="bogota") == [bogota.reference]  # case and accents aside
    assert refs("insesp", bank="BOGOTÁ ") == [bogota.reference]
    assert set(refs("insesp", bank="a")) == {bogota.reference, davi.reference}
    for nothing in ("otro", "%", "_", "nada"):  # another tenant's bank; no wildcards
        assert refs("insesp", bank=nothing) == [], nothing
    statements = []

    def seen(_conn, _cursor, statement, *_):
        statements.append(statement)

    sa_event.listen(db.engine, "before_cursor_execute", seen)
    try:
        refs("insesp", bank="davi")
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", seen)
    filtered = [q for q in statements if "bank_name IN" in q]  # the page and its totals
    assert len(filtered) == 2 and not any(" LIKE " in q.upper() for q in statements)
    assert sum("WITH RECURSIVE" in q.upper() for q in statements) == 1  # the names read once


def test_keyset_pages_walk_every_payment_once_newest_first(app, approved, insesp, monkeypatch):
    monkeypatch.setattr(P, "PAGE_SIZE", 3)
    made = [approved(insesp, client=str(100 + i))[0] for i in range(8)]
    same = dt.datetime(2026, 4, 14, 15, 0, tzinfo=dt.UTC)
    for attempt in made[:4]:  # ties on created_at are broken by id
        set_approved_at(attempt, same)
    seen, cursor = [], None
    while True:
        db.session.rollback()
        page = P.list_payments("insesp", P.Filters(), cursor)
        seen += [a.id for a in page.attempts]
        if cursor is None:  # the filter's totals, counted once on the first page
            assert sum(n for _s, n, _c in page.totals) == 8
        else:
            assert page.totals is None
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sorted(seen) == sorted(a.id for a in made) and len(seen) == 8
    db.session.rollback()
    rows = db.session.scalars(select(PaymentAttempt).where(PaymentAttempt.id.in_(seen))).all()
    order = {a.id: (a.created_at, a.id) for a in rows}
    assert [order[i] for i in seen] == sorted(order.values(), reverse=True)


def test_totals_add_up_per_status(app, approved, insesp, make_bill):
    approved(insesp, client="1", amount_cents=1_000_000)
    approved(insesp, client="2", amount_cents=2_500_050)
    open_pse_attempt(insesp, make_bill(client="3", amount_cents=700_000))
    db.session.rollback()
    page = P.list_payments("insesp", P.Filters())
    assert dict((s, (n, c)) for s, n, c in page.totals) == {
        "approved": (2, 3_500_050),
        "created": (1, 700_000),
    }
    assert page.approved_cents == 3_500_050


def test_payments_page_without_javascript_and_with_htmx(client, app, approved, insesp):
    attempt, _ = approved(insesp)
    sign_in(client, make_staff(role="consulta"))
    page = client.get(f"{BASE}/pagos")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert attempt.reference in html and "$ 18.000" in html
    assert "(últimos 7 días)" in html and 'id="resultados"' in html
    assert '<label for="desde">Desde</label>' in html
    # The bank field suggests the tenant's banks (a datalist: a plain text field without it).
    assert 'list="bancos"' in html and '<option value="BANCOLOMBIA"></option>' in html
    fragment = client.get(f"{BASE}/pagos?q={attempt.reference}", headers={"HX-Request": "true"})
    text = fragment.get_data(as_text=True)
    assert text.startswith('<section id="resultados"') and "<html" not in text
    assert attempt.reference in text


def test_bad_filters_get_spanish_messages_not_a_500(client, app):
    sign_in(client, make_staff(role="consulta"))
    response = client.get(f"{BASE}/pagos?desde=14/04/2026&estado=robado&hasta=2026-01-01")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Escriba la fecha como AAAA-MM-DD" in html
    assert "Seleccione una opción de la lista." in html
    bad_cursor = client.get(f"{BASE}/pagos?antes=zzz")
    assert bad_cursor.status_code == 200


def test_payment_page_shows_bills_payer_transitions_and_events(client, app, approved, insesp):
    attempt, bill = approved(insesp, cus="CUS-555")
    from gaspay.payments.models import GatewayEvent

    db.session.add(
        GatewayEvent(
            tenant="insesp",
            event_key="k1",
            gateway_txn_id=attempt.gateway_txn_id,
            reference=attempt.reference,
            gateway_status="APPROVED",
            outcome="applied",
            payload="{}",
        )
    )
    db.session.commit()
    sign_in(client, make_staff(role="operador"))
    html = client.get(f"{BASE}/pagos/{attempt.id}").get_data(as_text=True)
    assert attempt.reference in html and "CUS-555" in html and "BANCOLOMBIA" in html
    assert bill.bill_number in html and "$ 18.000" in html
    # The payer in full, for staff: name, e-mail, document, IP.
    assert "Usuario Demo" in html and "u@correo.test" in html
    assert "1020304050" in html and "127.0.0.1" in html
    assert "Creado" in html and "Evento de la pasarela" in html  # the transition's source
    assert "Aplicado" in html and "applied" not in html  # the event received, in Spanish
    assert "Consultar ahora" in html
    assert "Guardar nota" in html


def test_consulta_sees_no_action_buttons(client, app, approved, insesp):
    attempt, _ = approved(insesp)
    sign_in(client, make_staff(role="consulta"))
    html = client.get(f"{BASE}/pagos/{attempt.id}").get_data(as_text=True)
    assert "Consultar ahora" not in html and "Guardar nota" not in html


def test_consultar_ahora_moves_the_attempt_through_the_table(
    client, app, mocked, insesp, make_bill
):
    bill = make_bill()
    attempt = open_pse_attempt(insesp, bill)
    services.apply_answer(attempt, answer(attempt, txn_id="9-9-9"), "payer")
    mocked.get(
        f"{fakes.API}/transactions/9-9-9",
        json={
            "data": fakes.transaction(
                txn_id="9-9-9", reference=attempt.reference, status="APPROVED", cus="4455"
            )
        },
    )
    user = make_staff(role="operador")
    sign_in(client, user)
    token = page_csrf(client, f"{BASE}/pagos/{attempt.id}")
    response = client.post(f"{BASE}/pagos/{attempt.id}/consultar", data={"csrf_token": token})
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Pendiente → Aprobada" in page
    db.session.rollback()
    last = db.session.scalars(
        select(AttemptTransition)
        .where(AttemptTransition.attempt_id == attempt.id)
        .order_by(AttemptTransition.id.desc())
    ).first()
    assert (last.to_status, last.source) == ("approved", "staff")
    audit = db.session.scalars(select(StaffAudit).where(StaffAudit.action == "requery")).one()
    assert audit.actor == user.email and audit.target == attempt.reference


def test_consultar_ahora_when_the_gateway_is_down_changes_nothing(
    client, app, mocked, insesp, make_bill
):
    attempt = open_pse_attempt(insesp, make_bill())
    services.apply_answer(attempt, answer(attempt, txn_id="9-9-8"), "payer")
    mocked.get(f"{fakes.API}/transactions/9-9-8", body=requests.ConnectionError("down"))
    sign_in(client, make_staff(role="admin"))
    token = page_csrf(client, f"{BASE}/pagos/{attempt.id}")
    response = client.post(f"{BASE}/pagos/{attempt.id}/consultar", data={"csrf_token": token})
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "La pasarela no respondió" in page
    db.session.rollback()
    assert db.session.get(PaymentAttempt, attempt.id).status == "pending"


def test_notes_are_kept_and_audited(client, app, approved, insesp):
    attempt, _ = approved(insesp)
    user = make_staff(role="operador")
    sign_in(client, user)
    token = page_csrf(client, f"{BASE}/pagos/{attempt.id}")
    client.post(
        f"{BASE}/pagos/{attempt.id}/notas",
        data={"csrf_token": token, "nota": "El cliente llamó; <b>confirmado</b>."},
    )
    html = client.get(f"{BASE}/pagos/{attempt.id}").get_data(as_text=True)
    assert "El cliente llamó; &lt;b&gt;confirmado&lt;/b&gt;." in html
    db.session.rollback()
    assert db.session.scalars(select(StaffNote)).one().author == user.email
    empty = client.post(
        f"{BASE}/pagos/{attempt.id}/notas", data={"csrf_token": token, "nota": "  "}
    )
    assert "Escriba la nota." in client.get(empty.headers["Location"]).get_data(as_text=True)


def test_day_bounds_are_colombian_days():
    low, high = P.day_bounds(dt.date(2026, 4, 14), dt.date(2026, 4, 14))
    assert low == dt.datetime(2026, 4, 14, 5, 0, tzinfo=dt.UTC)
    assert high == dt.datetime(2026, 4, 15, 5, 0, tzinfo=dt.UTC)
    assert low.astimezone(BOGOTA).hour == 0
    assert today_in_bogota() >= dt.date(2026, 1, 1)


def _message(attempt, topic="payment.approved"):
    from gaspay.db import write_unit
    from gaspay.outbox import enqueue

    db.session.rollback()
    with write_unit():
        message = enqueue(
            "webhook",
            {"n": 1},
            tenant=attempt.tenant,
            topic=topic,
            destination="https://erp.test/hook",
            subject=("payment_attempt", attempt.id),
        )
    return message.id


def test_messages_panel_shows_deliveries_and_admin_sends_again(client, app, approved, insesp):
    from gaspay.outbox import OutboxDelivery, OutboxMessage

    attempt, _ = approved(insesp)
    other, _ = approved(insesp, client="0021099")
    message_id = _message(attempt, topic="payment.staff-test")
    db.session.add(
        OutboxDelivery(
            message_id=message_id, tenant="insesp", number=1, worker="w1", ok=False,
            status_code=503, error="Service Unavailable", duration_ms=12,
        )
    )  # fmt: skip
    db.session.execute(
        OutboxMessage.__table__.update()
        .where(OutboxMessage.id == message_id)
        .values(status="failed", failures=3)
    )
    db.session.commit()
    admin = make_staff(role="admin")
    sign_in(client, admin)
    html = client.get(f"{BASE}/pagos/{attempt.id}").get_data(as_text=True)
    assert "payment.staff-test" in html and "https://erp.test/hook" in html
    assert "Service Unavailable" in html and "503" in html and "Enviar de nuevo" in html
    token = page_csrf(client, f"{BASE}/pagos/{attempt.id}")
    # A message of another payment is not found under this one.
    wrong = client.post(
        f"{BASE}/pagos/{other.id}/mensajes/{message_id}/reenviar", data={"csrf_token": token}
    )
    assert wrong.status_code == 404
    again = client.post(
        f"{BASE}/pagos/{attempt.id}/mensajes/{message_id}/reenviar", data={"csrf_token": token}
    )
    assert again.status_code == 303
    assert "se enviará de nuevo" in client.get(again.headers["Location"]).get_data(as_text=True)
    db.session.rollback()
    message = db.session.get(OutboxMessage, message_id, populate_existing=True)
    assert message.status == "pending" and message.failures == 0
    audit = db.session.scalars(select(StaffAudit).where(StaffAudit.action == "resend")).one()
    assert audit.actor == admin.email and audit.target == attempt.reference
    # Operators see the panel but not the button.
    sign_in(client, make_staff(role="operador"))
    html = client.get(f"{BASE}/pagos/{attempt.id}").get_data(as_text=True)
    assert "payment.staff-test" in html and "Enviar de nuevo" not in html


def test_the_totals_are_on_the_first_page_and_the_next_pages_point_to_them(
    client, app, approved, insesp, monkeypatch
):
    monkeypatch.setattr(P, "PAGE_SIZE", 2)
    for i in range(3):
        approved(insesp, client=str(300 + i), amount_cents=1_000_000)
    sign_in(client, make_staff(role="consulta"))
    first = client.get(f"{BASE}/pagos").get_data(as_text=True)
    assert "3 pagos" in first and "Recaudado (aprobados)" in first and "$ 30.000" in first
    cursor = first.split("antes=")[1].split("&")[0].split('"')[0]
    second = client.get(f"{BASE}/pagos?antes={cursor}").get_data(as_text=True)
    assert "Pagos anteriores" in second and "Recaudado (aprobados)" not in second
    assert "Los totales del filtro están en la" in second


def test_messages_and_event_outcomes_read_in_spanish():
    from types import SimpleNamespace

    from gaspay.staff.outbox_panel import message_label

    assert message_label(SimpleNamespace(kind="email", topic="receipt")) == (
        "Correo · comprobante de pago"
    )
    # webhook event types stay as the company's billing system receives them
    assert message_label(SimpleNamespace(kind="webhook", topic="payment.approved")) == (
        "Webhook · payment.approved"
    )
    assert P.outcome_word("no_change") == "Sin cambio (ya se sabía)"
    assert P.outcome_word("mismatch: amount").startswith("No coincide con el pago")
    assert P.outcome_word(None) == "—"
