"""The fake PlacetoPay itself: it signs as the docs' published vectors say and refuses bad auth.

No app server is needed: the fake is started alone on 127.0.0.1.
"""

from __future__ import annotations

import base64
import hashlib

import requests

from tests.integrity.fake_placetopay import FakePlacetoPay, Site, sign

SITE = Site("gasnova", "fake_login", "fake-secret")


def auth(secret: str, raw_nonce: bytes = b"0123456789abcdef", seed: str | None = None) -> dict:
    seed = seed or "2026-12-02T08:00:00-05:00"
    digest = hashlib.sha256(raw_nonce + seed.encode() + secret.encode()).digest()
    return {
        "login": SITE.login,
        "tranKey": base64.b64encode(digest).decode(),
        "nonce": base64.b64encode(raw_nonce).decode(),
        "seed": seed,
    }


def test_notification_signature_matches_the_published_vectors():
    # docs/placetopay.md "Public vectors" 3, 4 and 5 (legacy SHA-1).
    assert sign(58, "APPROVED", "2016-09-15T13:49:01-05:00", "ABCD1234", "sha1") == (
        "feb3e7cc76939c346f9640573a208662f30704ab"
    )
    assert sign(83, "APPROVED", "2016-10-10T16:39:57-05:00", "024h1IlD", "sha1") == (
        "8fb4beea130ab3e75a1de956bd0213892e0f6839"
    )
    assert sign(126, "REJECTED", "2016-10-12T01:44:37-05:00", "024h1IlD", "sha1") == (
        "554fa6c36bd5d1376b192b8bc3a1e3dd9a01e448"
    )
    assert sign(58, "APPROVED", "d", "k", "sha256").startswith("sha256:")


def test_fake_refuses_bad_authentication_and_reused_nonces():
    fake = FakePlacetoPay([SITE], timeout_sleep=0.1).start()
    try:
        body = {
            "payment": {
                "reference": "GPFAKE1",
                "description": "Factura",
                "amount": {"currency": "COP", "total": 18000},
            },
            "returnUrl": "http://127.0.0.1/gasnova/pagos/GPFAKE1",
            "ipAddress": "127.0.0.1",
            "userAgent": "prueba",
        }
        url = fake.url + "/api/session"
        bad = requests.post(url, json={**body, "auth": auth("wrong")}, timeout=5)
        assert bad.status_code == 401 and "102" in bad.json()["status"]["message"]
        good = requests.post(url, json={**body, "auth": auth(SITE.secret_key)}, timeout=5)
        assert good.status_code == 200 and good.json()["status"]["status"] == "OK"
        request_id = str(good.json()["requestId"])
        again = requests.post(url, json={**body, "auth": auth(SITE.secret_key)}, timeout=5)
        assert again.status_code == 401  # the same nonce twice
        query = requests.post(
            f"{url}/{request_id}", json={"auth": auth(SITE.secret_key, b"other-nonce")}, timeout=5
        )
        assert query.json()["status"]["status"] == "PENDING" and query.json()["payment"] is None
        fake.decide(request_id, "APPROVED")
        note = fake.notification(request_id)
        status = note["status"]
        assert note["signature"] == sign(
            int(request_id), status["status"], status["date"], SITE.secret_key, "sha256"
        )
        assert fake.rejected_auth == 2
    finally:
        fake.stop()
