"""PlacetoPay notifications: the signature checked first (published SHA-1 examples, SHA-256 by
the documented formula), then the body parsed into a value."""

from __future__ import annotations

import copy
import hashlib

import pytest

from gaspay.gateways.placetopay import (
    InvalidNotification,
    Notification,
    notification_signature,
    read_notification,
    statuses,
    verify_notification,
)

# placetopay/web-checkout-api-docs, source/includes/_pagos.md ("Notificación", the approved
# example): requestId 58, APPROVED, date 2016-09-15T13:49:01-05:00, reference ORDER-1000,
# signature feb3e7cc76939c346f9640573a208662f30704ab, signed with the docs' example secret key
# ABCD1234 (source/includes/_autenticacion.md, "secretKey = ABCD1234").
OLD_DOCS_APPROVED = {
    "status": {
        "status": "APPROVED",
        "message": "",
        "reason": "",
        "date": "2016-09-15T13:49:01-05:00",
    },
    "requestId": 58,
    "reference": "ORDER-1000",
    "signature": "feb3e7cc76939c346f9640573a208662f30704ab",
}
OLD_DOCS_SECRET = "ABCD1234"

# dnetix/redirection, tests/Messages/NotificationTest.php, testItParsesCorrectlyTheNotification
# (the serialized array, unserialized): secret (tranKey) 024h1IlD.
SDK_SECRET = "024h1IlD"
SDK_APPROVED = {
    "status": {
        "status": "APPROVED",
        "reason": "00",
        "message": "Se ha aprobado su pago, puede imprimir el recibo o volver a la pagina del "
        "comercio",
        "date": "2016-10-10T16:39:57-05:00",
    },
    "requestId": 83,
    "reference": "TEST_20161010_213937",
    "signature": "8fb4beea130ab3e75a1de956bd0213892e0f6839",
}
# Same file, testItParsesANotificationPost.
SDK_REJECTED = {
    "status": {
        "status": "REJECTED",
        "reason": "?C",
        "message": "El proceso de pago ha sido cancelado por el usuario",
        "date": "2016-10-12T01:44:37-05:00",
    },
    "requestId": 126,
    "reference": "100000071",
    "signature": "554fa6c36bd5d1376b192b8bc3a1e3dd9a01e448",
}
VECTORS = [
    (OLD_DOCS_APPROVED, OLD_DOCS_SECRET),
    (SDK_APPROVED, SDK_SECRET),
    (SDK_REJECTED, SDK_SECRET),
]
IDS = ["old-docs-58", "sdk-83", "sdk-126"]


def sha256_form(body: dict, secret: str) -> dict:
    """The same notification signed the current way, computed here from the documented formula."""
    signed = copy.deepcopy(body)
    text = f"{body['requestId']}{body['status']['status']}{body['status']['date']}{secret}"
    signed["signature"] = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    return signed


@pytest.mark.parametrize(("body", "secret"), VECTORS, ids=IDS)
def test_published_sha1_notifications_verify(body, secret):
    assert verify_notification(body, secret)
    assert (
        notification_signature(
            body["requestId"], body["status"]["status"], body["status"]["date"], secret, "sha1"
        )
        == body["signature"]
    )
    note = read_notification(body, secret)
    assert note.algorithm == "sha1"
    assert note.request_id == body["requestId"] and note.reference == body["reference"]
    assert note.status.status == body["status"]["status"]


@pytest.mark.parametrize(("body", "secret"), VECTORS, ids=IDS)
def test_sha256_form_verifies_and_is_what_we_compute(body, secret):
    signed = sha256_form(body, secret)
    assert signed["signature"].startswith("sha256:") and len(signed["signature"]) == 7 + 64
    assert verify_notification(signed, secret)
    assert verify_notification(signed, secret, accept_sha1=False)
    assert (
        notification_signature(
            body["requestId"], body["status"]["status"], body["status"]["date"], secret
        )
        == signed["signature"]
    )
    upper = dict(signed, signature=signed["signature"].upper().replace("SHA256:", "sha256:"))
    assert verify_notification(upper, secret)
    assert read_notification(signed, secret).algorithm == "sha256"


def test_the_docs_rejected_example_does_not_verify():
    # _estructuras-info.md prints the APPROVED signature next to status REJECTED: it must fail.
    body = copy.deepcopy(OLD_DOCS_APPROVED)
    body["status"]["status"] = "REJECTED"
    assert not verify_notification(body, OLD_DOCS_SECRET)


def tampered(body: dict, path: str, value) -> dict:
    changed = copy.deepcopy(body)
    node = changed
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[key]
    if value is KeyError:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return changed


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("requestId", 84),
        ("requestId", "83 "),
        ("requestId", True),
        ("requestId", -83),
        ("requestId", KeyError),
        ("status.status", "REJECTED"),
        ("status.date", "2016-10-10T16:39:58-05:00"),
        ("status.date", KeyError),
        ("status", "APPROVED"),
        ("signature", "8fb4beea130ab3e75a1de956bd0213892e0f6838"),
        ("signature", "sha1:8fb4beea130ab3e75a1de956bd0213892e0f6839"),
        ("signature", "sha256:8fb4beea130ab3e75a1de956bd0213892e0f6839"),
        ("signature", ""),
        ("signature", None),
        ("signature", KeyError),
    ],
)
def test_a_changed_or_malformed_notification_is_refused(path, value):
    body = tampered(SDK_APPROVED, path, value)
    assert not verify_notification(body, SDK_SECRET)
    with pytest.raises(InvalidNotification):
        read_notification(body, SDK_SECRET)


def test_legacy_sha1_can_be_refused_and_an_empty_secret_refuses_everything():
    assert not verify_notification(SDK_APPROVED, SDK_SECRET, accept_sha1=False)
    for secret in ("", None, "otra"):
        assert not verify_notification(SDK_APPROVED, secret)
        assert not verify_notification(sha256_form(SDK_APPROVED, SDK_SECRET), secret)
    for body in (None, [], "texto", 7):
        assert not verify_notification(body, SDK_SECRET)


def test_request_id_sent_as_digits_is_signed_as_sent():
    body = sha256_form(dict(SDK_APPROVED, requestId="83"), SDK_SECRET)
    assert read_notification(body, SDK_SECRET).request_id == 83


def test_the_reference_is_checked_after_the_signature():
    # The reference is not signed: a missing or absurd one is refused, never trusted for lookup
    # on its own (the core finds the attempt by requestId and queries the session).
    for reference in ("", None, "R" * 33):
        body = dict(SDK_APPROVED, reference=reference)
        assert verify_notification(body, SDK_SECRET)
        with pytest.raises(InvalidNotification):
            read_notification(body, SDK_SECRET)


def test_notification_value():
    note = read_notification(sha256_form(SDK_REJECTED, SDK_SECRET), SDK_SECRET)
    assert isinstance(note, Notification)
    assert note.gateway_input == statuses.DECLINED
    assert note.status.reason == "?C"
    assert note.status.message == "El proceso de pago ha sido cancelado por el usuario"
    assert note.event_key == "placetopay:126:REJECTED:2016-10-12T01:44:37-05:00"
    approved = read_notification(SDK_APPROVED, SDK_SECRET)
    assert approved.gateway_input == statuses.APPROVED
    pending = sha256_form(tampered(SDK_APPROVED, "status.status", "PENDING"), SDK_SECRET)
    assert read_notification(pending, SDK_SECRET).gateway_input == statuses.PENDING


def test_signature_requires_a_secret():
    with pytest.raises(ValueError):
        notification_signature(1, "APPROVED", "d", "")
    with pytest.raises(ValueError):
        notification_signature(1, "APPROVED", "d", "k", "md5")
