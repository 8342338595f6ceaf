"""Login ("Ingresar"), second factor ("Verificar", with the QR code on first use), logout (POST),
and the one-time enrolment link where a new user chooses a password."""

from __future__ import annotations

from flask import current_app, flash, g, redirect, render_template, request

from gaspay.accounts.auth import safe_next
from gaspay.extensions import limiter
from gaspay.formatting import datetime as fecha_hora
from gaspay.staff import auth, services
from gaspay.staff.forms import ActivateForm, CodeForm, LoginForm
from gaspay.staff.views import bp
from gaspay.web.templating import tenant_url

LOGIN_FAILED = (
    "El correo o la contraseña no son correctos. Después de "
    f"{services.MAX_FAILURES} intentos fallidos el acceso se bloquea por "
    f"{services.LOCK_MINUTES} minutos."
)
CODE_FAILED = (
    "El código no es correcto o ya fue usado. Espere el siguiente código de su aplicación; "
    f"después de {services.MAX_FAILURES} intentos fallidos el acceso se bloquea por "
    f"{services.LOCK_MINUTES} minutos."
)


def _limit() -> str:
    return current_app.config.get("STAFF_LOGIN_RATE_LIMIT", "20 per minute")


def staff_next(value: str | None) -> str | None:
    """A path inside this tenant's staff area, or None (no open redirect, no payer pages)."""
    target = safe_next(value)
    if target and target.startswith(f"/{g.tenant.slug}/empresa/"):
        return target
    return None


def _status(form, error) -> int:
    return 422 if request.method == "POST" and (error or form.errors) else 200


@bp.route("/ingresar", methods=["GET", "POST"], endpoint="login")
@limiter.limit(_limit, methods=["POST"], deduct_when=lambda r: r.status_code != 303)
def login():
    form = LoginForm(next=request.args.get("next", ""))
    if request.method == "GET" and auth.current_staff() is not None:
        return redirect(staff_next(form.next.data) or tenant_url("staff.overview"), code=303)
    error = None
    if form.validate_on_submit():
        user = services.check_credentials(g.tenant.slug, form.email.data, form.password.data)
        if user is None:
            error = LOGIN_FAILED
        else:
            auth.start_pending(user)
            return redirect(tenant_url("staff.verify", next=staff_next(form.next.data)), code=303)
    return render_template("staff/login.html", form=form, error=error), _status(form, error)


@bp.route("/verificar", methods=["GET", "POST"], endpoint="verify")
@limiter.limit(_limit, methods=["POST"], deduct_when=lambda r: r.status_code != 303)
def verify():
    user = auth.pending_staff()
    if user is None:
        flash("Ingrese su correo y contraseña para continuar.", "warn")
        return redirect(tenant_url("staff.login"), code=303)
    user = services.prepare_totp(user)
    form = CodeForm(next=request.args.get("next", ""))
    error = None
    if form.validate_on_submit():
        done = services.verify_code(user, form.code.data)
        if done is None:
            error = CODE_FAILED
        else:
            auth.start_session(done)
            if done.previous_login_at:
                last = f"Su último acceso fue el {fecha_hora(done.previous_login_at)}."
            else:
                last = "Este es su primer acceso."
            flash(f"Bienvenido(a), {done.full_name or done.email}. {last}", "ok")
            return redirect(staff_next(form.next.data) or tenant_url("staff.overview"), code=303)
    enrol = None
    if user.totp_secret is None and user.totp_pending:
        uri = auth.provisioning_uri(user, user.totp_pending, g.tenant.name)
        enrol = {"qr": auth.qr_data_uri(uri), "secret": auth.spaced_secret(user.totp_pending)}
    context = {"form": form, "error": error, "enrol": enrol, "user": user}
    return render_template("staff/verify.html", **context), _status(form, error)


@bp.post("/salir", endpoint="logout")
def logout():
    user = auth.current_staff()
    if user is not None:
        services.logout(user)
    auth.end_session()
    flash("Su sesión se cerró.", "ok")
    return redirect(tenant_url("staff.login"), code=303)


@bp.route("/activar/<token>", methods=["GET", "POST"], endpoint="activate")
@limiter.limit(_limit, methods=["POST"])
def activate(token: str):
    user = services.enrolment_user(g.tenant.slug, token)
    if user is None:
        return render_template("staff/activate_invalid.html"), 404
    form = ActivateForm()
    if form.validate_on_submit():
        try:
            done = services.activate(g.tenant.slug, token, form.password.data)
        except services.StaffError as exc:
            form.password.errors.append(str(exc))
        else:
            if done is None:
                return render_template("staff/activate_invalid.html"), 404
            auth.end_session()
            flash(
                "Su contraseña quedó guardada. Ingrese; en el siguiente paso configurará el "
                "código de verificación con su aplicación de autenticación.",
                "ok",
            )
            return redirect(tenant_url("staff.login"), code=303)
    status = 422 if request.method == "POST" else 200
    return render_template("staff/activate.html", form=form, user=user, token=token), status
