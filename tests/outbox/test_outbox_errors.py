"""What a failure keeps: no payer's data in an error's text, a delivery or a message's last error.

A database error quotes its statement's bound values (SQLAlchemy's ``[parameters: ...]``) and
PostgreSQL's own message quotes the row it refused (``DETAIL: Failing row contains ...``).
"""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from gaspay.db import write_unit
from gaspay.extensions import db
from gaspay.outbox import OutboxMessage, queue, registry
from gaspay.outbox.models import OutboxDelivery
from gaspay.outbox.worker import run_pending

SECRET_EMAIL = "secreto.pagador@correo.test"
KIND = "test_refused_row"


def test_a_database_error_does_not_echo_its_bound_values(oapp):
    with oapp.app_context(), pytest.raises(DBAPIError) as caught:
        db.session.execute(text("SELECT * FROM no_such_table WHERE x = :v"), {"v": SECRET_EMAIL})
    assert SECRET_EMAIL not in str(caught.value)
    assert "hide_parameters" in str(caught.value)  # SQLAlchemy says what it left out


@pytest.fixture
def refusing_handler():
    def deliver(job):  # a handler's write the database refuses, the payer's e-mail in the row
        statement = text("INSERT INTO outbox_messages (uid, kind) VALUES (:uid, NULL)")
        db.session.execute(statement, {"uid": SECRET_EMAIL})

    registry.register_handler(KIND, deliver, retry_schedule=[60])
    yield
    registry.unregister_handler(KIND)


def test_a_handlers_database_error_is_kept_by_its_kind_alone(oapp, otenant, refusing_handler):
    with oapp.app_context():
        with write_unit():
            message = queue.enqueue(KIND, {"n": 1}, tenant=otenant.slug)
            db.session.flush()
            message_id = message.id
        run_pending([KIND])
        message = db.session.get(OutboxMessage, message_id, populate_existing=True)
        delivery = db.session.scalars(
            select(OutboxDelivery).where(OutboxDelivery.message_id == message_id)
        ).one()
    assert message.failures == 1 and message.last_error == delivery.error
    assert message.last_error.startswith("IntegrityError (")
    assert SECRET_EMAIL not in message.last_error
