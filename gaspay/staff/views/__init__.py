"""The staff blueprint: one module of views per concern, all registered on ``bp``.

Every view is wrapped in ``auth.requires(permission)`` (a staff session of this tenant and a
role allowed to do it) except the login steps; every page is ``Cache-Control: no-store``.
"""

from __future__ import annotations

from flask import Blueprint, g, request

from gaspay.staff import auth

bp = Blueprint("staff", __name__, url_prefix="/empresa")


@bp.after_request
def never_cache(response):
    response.headers["Cache-Control"] = "no-store"
    response.vary.add("Cookie")
    return response


@bp.context_processor
def staff_context() -> dict:
    if g.get("tenant") is None or not (request.blueprint or "").endswith("staff"):
        return {}
    return {"staff_user": auth.current_staff(), "can": auth.can}


from gaspay.staff.views import (  # noqa: E402, F401 - each registers its views on bp
    auth_views,
    bill_views,
    export_views,
    overview_views,
    payment_views,
    review_views,
    user_views,
)
