"""The client area ("/clientes/"): "Cuenta" → "Entrar", "Salir", password reset, terms.

The notice and payment pages are in ``notice_views``; both register on the package's ``bp``.
"""

from __future__ import annotations

from flask import current_app, flash, g, redirect, render_template, request
from flask_login import current_user

from gaspay.accounts import bp, recaptcha
from gaspay.accounts.auth import end_session, safe_next, start_session
from gaspay.accounts.forms import ForgotForm, LoginForm, ResetForm
from gaspay.accounts.reset import send_reset_link
from gaspay.accounts.services import (
    LOCK_MINUTES,
    RESET_MINUTES,
    AccountError,
    authenticate,
    use_reset,
    valid_reset,
)
from gaspay.extensions import client_ip, limiter
from gaspay.web.templating import tenant_url

LOGIN_FAILED = (
    "El correo o la contraseña no son correctos. Después de varios intentos fallidos el acceso "
    f"se bloquea por {LOCK_MINUTES} minutos; si no recuerda su contraseña, use "
    "«¿Olvidó su contraseña?»."
)
MAX_TOKEN = 128


def _login_limit() -> str:
    return current_app.config.get("LOGIN_RATE_LIMIT", "10 per minute")


def _reset_limit() -> str:
    return current_app.config.get("RESET_RATE_LIMIT", "5 per minute")


def _reset_target() -> str:
    """One e-mail address cannot be flooded with reset mails from many addresses."""
    return f"reset:{g.tenant.slug}:{(request.form.get('email') or '').strip().lower()[:254]}"


def _status(form, error) -> int:
    return 422 if request.method == "POST" and (error or form.errors) else 200


@bp.get("/", endpoint="area")
def area():
    return render_template("accounts/area.html")


@bp.route("/entrar", methods=["GET", "POST"], endpoint="login")
@limiter.limit(_login_limit, methods=["POST"], deduct_when=lambda r: r.status_code != 303)
def login():
    form = LoginForm(next=request.args.get("next", ""))
    if request.method == "GET" and current_user.is_authenticated:
        return redirect(safe_next(form.next.data) or tenant_url("accounts.notices"), code=303)
    error = None
    if form.validate_on_submit():
        outcome = recaptcha.verify(g.tenant, request.form.get(recaptcha.FIELD), client_ip())
        if outcome is not recaptcha.Outcome.OK:
            error = outcome.message
        else:
            customer = authenticate(g.tenant.slug, form.email.data, form.password.data)
            if customer is None:
                error = LOGIN_FAILED
            else:
                start_session(customer)
                target = safe_next(form.next.data) or tenant_url("accounts.notices")
                return redirect(target, code=303)
    context = {"form": form, "error": error, "recaptcha": recaptcha.widget(g.tenant)}
    return render_template("accounts/login.html", **context), _status(form, error)


@bp.post("/salir", endpoint="logout")
def logout():
    end_session(current_user._get_current_object() if current_user.is_authenticated else None)
    flash("Su sesión se cerró.", "ok")
    return redirect(tenant_url("accounts.login"), code=303)


@bp.route("/recuperar", methods=["GET", "POST"], endpoint="forgot")
@limiter.limit(_reset_limit, methods=["POST"])
@limiter.limit(
    lambda: current_app.config.get("RESET_TARGET_RATE_LIMIT", "5 per hour"),
    methods=["POST"],
    key_func=_reset_target,
)
def forgot():
    form = ForgotForm()
    error = None
    sent = False
    if form.validate_on_submit():
        outcome = recaptcha.verify(g.tenant, request.form.get(recaptcha.FIELD), client_ip())
        if outcome is not recaptcha.Outcome.OK:
            error = outcome.message
        else:
            send_reset_link(g.tenant, form.email.data)
            sent = True
    context = {
        "form": form,
        "error": error,
        "sent": sent,
        "minutes": RESET_MINUTES,
        "recaptcha": recaptcha.widget(g.tenant),
    }
    return render_template("accounts/forgot.html", **context), _status(form, error)


@bp.route("/restablecer/<token>", methods=["GET", "POST"], endpoint="reset")
@limiter.limit(_reset_limit, methods=["POST"])
def reset(token: str):
    if len(token) > MAX_TOKEN or valid_reset(g.tenant, token) is None:
        return render_template("accounts/reset_invalid.html"), 404
    form = ResetForm()
    if form.validate_on_submit():
        try:
            customer = use_reset(g.tenant, token, form.password.data)
        except AccountError as exc:
            form.password.errors.append(str(exc))
        else:
            if customer is None:  # used by another request a moment ago
                return render_template("accounts/reset_invalid.html"), 404
            end_session(None)
            flash("Su contraseña fue cambiada. Ingrese con la nueva contraseña.", "ok")
            return redirect(tenant_url("accounts.login"), code=303)
    return render_template("accounts/reset.html", form=form, token=token), _status(form, None)


@bp.get("/terminos", endpoint="terms")
def terms():
    return render_template("accounts/terms.html")
