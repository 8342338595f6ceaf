"""Staff users (administrators only): create, disable, re-enable, reset the second factor,
a new enrolment link; and the audit log."""

from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request

from gaspay.staff import audit, auth, services
from gaspay.staff.forms import ActionForm, UserForm
from gaspay.staff.models import ROLE_NAMES
from gaspay.staff.views import bp
from gaspay.web.templating import tenant_url


def enrolment_url(token: str) -> str:
    return auth.enrolment_link(g.tenant.slug, token)


def _page(form: UserForm, link: tuple[str, str] | None = None, status: int = 200):
    context = {
        "form": form,
        "users": services.list_users(g.tenant.slug),
        "roles": ROLE_NAMES,
        "link": link,
        "action_form": ActionForm(),
        "me": auth.current_staff(),
    }
    return render_template("staff/users.html", **context), status


def _load(user_id: int):
    user = services.get_user(g.tenant.slug, user_id)
    if user is None:
        abort(404)
    return user


@bp.route("/usuarios", methods=["GET", "POST"], endpoint="users")
@auth.requires("users")
def users():
    form = UserForm()
    if form.validate_on_submit():
        try:
            enrolment = services.create_user(
                g.tenant.slug,
                form.email.data,
                form.rol.data,
                full_name=form.nombre.data or "",
                created_by=auth.current_staff().email,
            )
        except services.StaffError as exc:
            form.email.errors = [str(exc)]
        else:
            link = (enrolment.user.email, enrolment_url(enrolment.token))
            return _page(UserForm(formdata=None), link)
    return _page(form, status=422 if request.method == "POST" else 200)


def _act(user_id: int, action) -> object:
    user = _load(user_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        result = action(user)
    except services.StaffError as exc:
        flash(str(exc), "error")
        return redirect(tenant_url("staff.users"), code=303)
    return result


@bp.post("/usuarios/<int:user_id>/desactivar", endpoint="user_disable")
@auth.requires("users")
def disable(user_id: int):
    def act(user):
        services.disable_user(g.tenant.slug, user, auth.current_staff().email)
        flash(f"{user.email} quedó desactivado; su sesión se cerró.", "ok")
        return redirect(tenant_url("staff.users"), code=303)

    return _act(user_id, act)


@bp.post("/usuarios/<int:user_id>/reactivar", endpoint="user_enable")
@auth.requires("users")
def enable(user_id: int):
    def act(user):
        services.enable_user(g.tenant.slug, user, auth.current_staff().email)
        flash(f"{user.email} quedó activo de nuevo.", "ok")
        return redirect(tenant_url("staff.users"), code=303)

    return _act(user_id, act)


@bp.post("/usuarios/<int:user_id>/segundo-factor", endpoint="user_reset_totp")
@auth.requires("users")
def reset_totp(user_id: int):
    def act(user):
        services.reset_second_factor(g.tenant.slug, user, auth.current_staff().email)
        flash(
            f"El código de verificación de {user.email} se restableció: configurará uno nuevo "
            "en su próximo ingreso.",
            "ok",
        )
        return redirect(tenant_url("staff.users"), code=303)

    return _act(user_id, act)


@bp.post("/usuarios/<int:user_id>/enlace", endpoint="user_link")
@auth.requires("users")
def new_link(user_id: int):
    def act(user):
        token = services.new_enrolment_link(g.tenant.slug, user, auth.current_staff().email)
        return _page(UserForm(formdata=None), (user.email, enrolment_url(token)))

    return _act(user_id, act)


@bp.get("/auditoria", endpoint="audit")
@auth.requires("audit")
def audit_log():
    value = request.args.get("antes", "")
    before = int(value) if value.isdigit() and len(value) < 19 else None
    action = request.args.get("accion") or None
    if action not in audit.ACTIONS:
        action = None
    rows = audit.page(g.tenant.slug, before, action)
    more = len(rows) > audit.PAGE
    rows = rows[: audit.PAGE]
    context = {
        "rows": rows,
        "next_id": rows[-1].id if more and rows else None,
        "actions": audit.ACTIONS,
        "action": action,
    }
    return render_template("staff/audit.html", **context)
