"""Signed `transaction.updated` events, sent to the tenant's webhook from a daemon thread.

Config: SANDBOX_BASE_URL (where the app listens), SANDBOX_EVENT_DELAY_SECONDS (0.5),
SANDBOX_SEND_EVENTS (True; tests turn it off and read `store.events()`),
SANDBOX_EVENT_BACKOFF_SECONDS (0.5, doubled on each retry).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time

import requests
from flask import Flask

from gaspay.sandbox import store
from gaspay.sandbox.merchants import Merchant

log = logging.getLogger(__name__)

PROPERTIES = ("transaction.id", "transaction.status", "transaction.amount_in_cents")
TIMEOUT_SECONDS = 5
RETRIES = 3

_threads: list[threading.Thread] = []
_threads_lock = threading.Lock()


def sign_event(body: dict, events_secret: str) -> str:
    """sha256_hex(values of data.<property>, in order + timestamp + events secret)."""
    parts = []
    for prop in body["signature"]["properties"]:
        value = body["data"]
        for key in prop.split("."):
            value = value[key]
        parts.append(str(value))
    raw = "".join(parts) + str(body["timestamp"]) + events_secret
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def build_event(transaction: dict, merchant: Merchant) -> dict:
    moment = store.now()
    body = {
        "event": "transaction.updated",
        "data": {"transaction": transaction},
        "environment": merchant.environment,
        "signature": {"properties": list(PROPERTIES), "checksum": ""},
        "timestamp": int(moment.timestamp()),
        "sent_at": store.iso(moment),
    }
    body["signature"]["checksum"] = sign_event(body, merchant.events_secret)
    return body


def webhook_url(app: Flask, slug: str) -> str:
    return str(app.config["SANDBOX_BASE_URL"]).rstrip("/") + f"/{slug}/webhooks/wompi"


def dispatch(app: Flask, merchant: Merchant, transaction: dict) -> threading.Thread | None:
    """Record the event and, unless SANDBOX_SEND_EVENTS is off, send it in the background."""
    url = webhook_url(app, merchant.slug)
    body = build_event(transaction, merchant)
    store.record_event(url, body)
    if not app.config.get("SANDBOX_SEND_EVENTS", True):
        return None
    delay = float(app.config.get("SANDBOX_EVENT_DELAY_SECONDS", 0.5))
    backoff = float(app.config.get("SANDBOX_EVENT_BACKOFF_SECONDS", 0.5))
    thread = threading.Thread(
        target=_deliver,
        args=(url, body, delay, backoff),
        name=f"sandbox-event-{transaction['id']}",
        daemon=True,
    )
    with _threads_lock:
        _threads[:] = [t for t in _threads if t.is_alive()]
        _threads.append(thread)
    thread.start()
    return thread


def _deliver(url: str, body: dict, delay: float, backoff: float) -> None:
    """Never raises: failures are logged (a thread's exception would only be noise)."""
    try:
        time.sleep(delay)
        payload = json.dumps(body)
        headers = {
            "Content-Type": "application/json",
            "X-Event-Checksum": body["signature"]["checksum"],
        }
        txn_id = body["data"]["transaction"]["id"]
        for attempt in range(RETRIES + 1):
            try:
                response = requests.post(
                    url, data=payload, headers=headers, timeout=TIMEOUT_SECONDS
                )
            except requests.RequestException as exc:
                log.warning("sandbox event %s to %s failed: %s", txn_id, url, exc)
            else:
                if 200 <= response.status_code < 300:
                    log.info("sandbox event %s delivered to %s", txn_id, url)
                    return
                log.warning("sandbox event %s to %s: HTTP %s", txn_id, url, response.status_code)
            if attempt < RETRIES:
                time.sleep(backoff * 2**attempt)
        log.error("sandbox event %s to %s given up after %d attempts", txn_id, url, RETRIES + 1)
    except Exception:
        log.exception("sandbox event to %s crashed", url)


def wait_for_events(timeout: float = 10.0) -> bool:
    """Join the sending threads (tests); True when all of them have finished."""
    deadline = time.monotonic() + timeout
    with _threads_lock:
        threads = list(_threads)
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return not any(t.is_alive() for t in threads)
