"""Signed webhooks to each company's billing system (Standard Webhooks v1).

Every delivery carries ``webhook-id`` (the message's uid: the same on every retry),
``webhook-timestamp`` (this attempt, Unix seconds) and ``webhook-signature``
(``v1,`` + base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}`` with each of the endpoint's
secrets). The body is fixed when the event happens, so every retry signs the same bytes.

Delivery: any 2xx is success; anything else, a timeout (``WEBHOOK_TIMEOUT_SECONDS``, 15 s)
or a connection error is retried by the schedule; redirects are not followed; ``Retry-After``
is honoured on 429/503; ``410 Gone`` disables the endpoint (``outbox enable-endpoint`` turns
it on again) and the company's staff are told by e-mail, as when the schedule runs out. In
production only ``https://`` endpoints are called, and the address each name resolves to is
checked when connecting: loopback, private, link-local and other non-public addresses are
refused (SSRF), whatever the DNS answers.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import logging
import socket
import time
from urllib.parse import urlsplit

import certifi
import urllib3
from flask import current_app, has_app_context, render_template
from sqlalchemy import select, update
from standardwebhooks.webhooks import Webhook
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from gaspay.extensions import db
from gaspay.outbox.models import DISABLED, PENDING, DisabledEndpoint, OutboxMessage
from gaspay.outbox.queue import enqueue, tell_support
from gaspay.outbox.registry import Job, Outcome
from gaspay.tenancy.webhooks import WebhookEndpoint
from gaspay.timeutil import utcnow

log = logging.getLogger(__name__)
KIND = "webhook"
DEFAULT_TIMEOUT_SECONDS = 15.0
USER_AGENT = "gaspay-webhooks/1.0 (Standard Webhooks v1)"
MAX_BODY = 20 * 1024


class AddressRefused(Exception):
    """The endpoint resolves to an address a production worker must not call (SSRF)."""


# --- signing ----------------------------------------------------------------------------------


def sign(secrets: tuple[str, ...] | list[str], msg_id: str, timestamp: int, body: str) -> str:
    """The ``webhook-signature`` header: one ``v1,…`` per secret, space-separated."""
    when = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    return " ".join(Webhook(secret).sign(msg_id, when, body) for secret in secrets)


def headers_for(endpoint: WebhookEndpoint, msg_id: str, body: str, timestamp: int) -> dict:
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(endpoint.secrets, msg_id, timestamp, body),
    }


# --- where we may connect ---------------------------------------------------------------------


def _production() -> bool:
    return bool(current_app.config.get("PRODUCTION")) if has_app_context() else True


def refusal(address: str, *, production: bool) -> str | None:
    """Why a production worker must not connect to ``address`` (None: it may)."""
    if not production:
        return None  # development and tests call http://127.0.0.1
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback address"
    if ip.is_link_local:
        return "link-local address"
    if ip.is_private:
        return "private address"
    if ip.is_multicast or ip.is_reserved or ip.is_unspecified or not ip.is_global:
        return "non-public address"
    return None


def checked_addresses(host: str, port: int, *, production: bool) -> list[tuple]:
    """getaddrinfo, refusing the host if any address it resolves to is refused."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    for *_rest, sockaddr in infos:
        reason = refusal(sockaddr[0], production=production)
        if reason:
            raise AddressRefused(f"{host} resolves to a {reason} ({sockaddr[0]})")
    return infos


class _Guarded:
    """Resolves and checks the address at connection time, then connects to that address."""

    def _new_conn(self):  # type: ignore[override]
        infos = checked_addresses(self.host, self.port, production=_production())
        self._dns_host = infos[0][4][0]
        return super()._new_conn()


class GuardedHTTPConnection(_Guarded, HTTPConnection):
    pass


class GuardedHTTPSConnection(_Guarded, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = GuardedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection


def post(url: str, body: bytes, headers: dict, timeout: float) -> tuple[int, dict, bytes]:
    """One POST, no redirects, no retries; (status, headers, first KB of the answer)."""
    parts = urlsplit(url)
    https = parts.scheme == "https"
    pool_cls = _HTTPSPool if https else _HTTPPool
    kwargs = {"cert_reqs": "CERT_REQUIRED", "ca_certs": certifi.where()} if https else {}
    port = parts.port or (443 if https else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    with pool_cls(parts.hostname, port, maxsize=1, block=False, **kwargs) as pool:
        response = pool.urlopen(
            "POST",
            path,
            body=body,
            headers=headers,
            redirect=False,
            retries=False,
            timeout=urllib3.Timeout(connect=min(5.0, timeout), read=timeout),
            preload_content=False,
            assert_same_host=False,
        )
        try:
            head = response.read(1024, decode_content=False)
        finally:
            response.release_conn()
            response.close()
    return response.status, dict(response.headers), head


# --- what goes out ----------------------------------------------------------------------------


def event_body(event_type: str, data: dict, occurred_at: dt.datetime | None = None) -> str:
    when = (occurred_at or utcnow()).astimezone(dt.UTC)
    document = {
        "type": event_type,
        "timestamp": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "data": data,
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def enqueue_event(
    tenant,
    event_type: str,
    data: dict,
    *,
    subject: tuple[str, int] | None = None,
    occurred_at: dt.datetime | None = None,
) -> list[OutboxMessage]:
    """One message per endpoint of the tenant that wants this event (inside the write unit)."""
    endpoints = [e for e in getattr(tenant, "webhooks", ()) if e.wants(event_type)]
    if not endpoints:
        return []
    body = event_body(event_type, data, occurred_at)
    if len(body.encode()) > MAX_BODY:
        log.warning("webhook %s body is %s bytes (over 20 KB)", event_type, len(body.encode()))
    return [
        enqueue(
            KIND,
            {"endpoint": e.name, "url": e.url, "type": event_type, "body": body},
            tenant=tenant.slug,
            topic=event_type,
            destination=e.url,
            subject=subject,
        )
        for e in endpoints
    ]


def _endpoint(job: Job) -> WebhookEndpoint | None:
    tenant = current_app.extensions["gaspay.tenants"].get(job.tenant or "")
    if tenant is None:
        return None
    by_name = {e.name: e for e in tenant.webhooks}
    by_url = {e.url: e for e in tenant.webhooks}
    return by_name.get(job.payload.get("endpoint")) or by_url.get(job.payload.get("url"))


def _is_disabled(tenant: str, url: str) -> bool:
    found = db.session.scalar(
        select(DisabledEndpoint.id).where(
            DisabledEndpoint.tenant == tenant, DisabledEndpoint.url == url
        )
    )
    session = db.session()
    if session.in_transaction():
        session.commit()  # no transaction stays open across the HTTP call
    return found is not None


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max((when - utcnow()).total_seconds(), 0.0)


def deliver_webhook(job: Job) -> Outcome:
    """The ``webhook`` handler: one signed POST."""
    endpoint = _endpoint(job)
    if endpoint is None:
        return Outcome(ok=False, final=True, status=DISABLED, error="endpoint no longer configured")
    if _is_disabled(job.tenant, endpoint.url):
        return Outcome(ok=False, final=True, status=DISABLED, error="endpoint disabled (410)")
    if _production() and not endpoint.url.startswith("https://"):
        return Outcome(ok=False, final=True, status=DISABLED, error="not an https:// endpoint")
    body = job.payload["body"]
    headers = headers_for(endpoint, job.uid, body, int(time.time()))
    timeout = float(current_app.config.get("WEBHOOK_TIMEOUT_SECONDS") or DEFAULT_TIMEOUT_SECONDS)
    try:
        status, answer_headers, head = post(endpoint.url, body.encode(), headers, timeout)
    except AddressRefused as exc:
        return Outcome(ok=False, error=f"refused: {exc}")
    except urllib3.exceptions.TimeoutError:
        return Outcome(ok=False, error=f"timeout after {timeout:g} s")
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return Outcome(ok=False, error=f"connection error: {type(reason).__name__}")
    if 200 <= status < 300:
        return Outcome(status_code=status)
    snippet = head.decode("utf-8", "replace").strip()[:100]
    error = f"HTTP {status}" + (f": {snippet}" if snippet else "")
    if status == 410:
        return Outcome(
            ok=False,
            final=True,
            status=DISABLED,
            status_code=status,
            error=error,
            extra={"gone": 1},
        )
    retry_after = None
    if status in (429, 503):
        lowered = {k.lower(): v for k, v in answer_headers.items()}
        retry_after = _retry_after(lowered.get("retry-after"))
    if 300 <= status < 400:
        error = f"HTTP {status} (redirects are not followed: update the endpoint's URL)"
    return Outcome(ok=False, status_code=status, error=error, retry_after=retry_after)


# --- when it cannot be delivered --------------------------------------------------------------


def on_final_failure(job: Job, outcome: Outcome) -> None:
    """Inside the write unit recording it: disable on 410, and tell the company's staff."""
    tenants = current_app.extensions["gaspay.tenants"]
    tenant = tenants.get(job.tenant or "")
    if tenant is None:
        return
    url = job.payload.get("url") or job.destination
    if outcome.extra.get("gone"):
        disable_endpoint(tenant.slug, url, "the endpoint answered 410 Gone")
    elif outcome.status == DISABLED:
        return  # already disabled or removed: staff were told when it happened
    try:
        reference = json.loads(job.payload["body"])["data"].get("reference", "")
    except (KeyError, TypeError, ValueError):
        reference = ""
    text = render_template(
        "outbox/webhook_trouble.txt",
        tenant=tenant,
        url=url,
        event_type=job.payload.get("type"),
        reference=reference,
        attempts=job.number,
        error=outcome.error,
        gone=bool(outcome.extra.get("gone")),
    )
    tell_support(
        tenant,
        f"{tenant.name}: avisos de pago sin entregar a su sistema de facturación",
        text,
        topic="webhook_trouble",
        about=(job.subject_type, job.subject_id) if job.subject_type else None,
    )


def disable_endpoint(tenant: str, url: str, reason: str) -> None:
    """Inside a write unit: no more deliveries to ``url``; its pending messages stop too."""
    exists = db.session.scalar(
        select(DisabledEndpoint.id).where(
            DisabledEndpoint.tenant == tenant, DisabledEndpoint.url == url
        )
    )
    if exists is None:
        db.session.add(DisabledEndpoint(tenant=tenant, url=url, reason=reason[:255]))
    db.session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.tenant == tenant,
            OutboxMessage.kind == KIND,
            OutboxMessage.destination == url,
            OutboxMessage.status == PENDING,
        )
        .values(status=DISABLED, lease_until=None, last_error="endpoint disabled (410)")
        .execution_options(synchronize_session=False)
    )
    log.warning("webhook endpoint %s of %s disabled: %s", url, tenant, reason)


def enable_endpoint(tenant: str, url: str) -> bool:
    """Inside a write unit: deliveries to ``url`` may start again; True if it was disabled."""
    row = db.session.scalar(
        select(DisabledEndpoint).where(
            DisabledEndpoint.tenant == tenant, DisabledEndpoint.url == url
        )
    )
    if row is None:
        return False
    db.session.delete(row)
    return True


def disabled_endpoints(tenant: str | None = None) -> list[DisabledEndpoint]:
    query = select(DisabledEndpoint).order_by(DisabledEndpoint.id)
    if tenant is not None:
        query = query.where(DisabledEndpoint.tenant == tenant)
    return list(db.session.scalars(query))
