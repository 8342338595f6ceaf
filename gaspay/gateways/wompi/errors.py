"""Wompi client errors: unknown outcome (retry later) versus a definite refusal."""

from __future__ import annotations

# --------------------------------------------------------------------------- errors


class GatewayError(Exception):
    """Base of every Wompi client error."""


class GatewayUnavailable(GatewayError):
    """No definite answer: the outcome is unknown (timeout, network, 5xx, 409, bad JSON)."""

    def __init__(self, message: str, *, status_code: int | None = None):
        super().__init__(message)
        self.status_code = status_code


class GatewayRejected(GatewayError):
    """A definite 4xx answer: the gateway refused the request."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        error_type: str | None = None,
        messages: dict | None = None,
        reason: str | None = None,
    ):
        super().__init__(message)
        self.status_code = status_code
        self.error_type = error_type
        self.messages = messages if messages is not None else {}
        self.reason = reason


class NotFound(GatewayRejected):
    """404: the gateway does not know this resource."""
