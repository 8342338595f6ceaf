"""Staff users: creation and enrolment, login with an atomic lock-out, second factor, admin.

Every failed password or code counts in one UPDATE that both counts and decides the lock
(``_count_failure``), so parallel guesses cannot slip past the limit; a successful login is one
compare-and-set that also refuses a TOTP code already used.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import case, func, or_, select, update

from gaspay.db import write_unit
from gaspay.extensions import db
from gaspay.staff import audit
from gaspay.staff.auth import (
    DEMO_PASSWORD,
    check_password,
    hash_password,
    new_totp_secret,
    refused_in_production,
    totp_step,
)
from gaspay.staff.models import ADMIN, ROLES, StaffUser
from gaspay.timeutil import as_utc, utcnow

MAX_FAILURES = 5
LOCK_MINUTES = 15
ENROL_DAYS = 7
MIN_PASSWORD = 12
MAX_PASSWORD = 128
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")


class StaffError(ValueError):
    """A staff-user operation cannot be done; the message is in Spanish, for whoever asked."""


@dataclass(frozen=True)
class Enrolment:
    user: StaffUser
    token: str  # shown once: only its hash is stored


def users_query(slug: str):
    return select(StaffUser).where(StaffUser.tenant == slug)


def find_user(slug: str, email: str) -> StaffUser | None:
    return db.session.scalars(
        users_query(slug).where(StaffUser.email == (email or "").strip().lower())
    ).first()


def get_user(slug: str, user_id: int) -> StaffUser | None:
    return db.session.scalars(users_query(slug).where(StaffUser.id == user_id)).first()


def list_users(slug: str) -> list[StaffUser]:
    return list(db.session.scalars(users_query(slug).order_by(StaffUser.email)))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _enrol_days() -> int:
    return int(current_app.config.get("STAFF_ENROL_DAYS", ENROL_DAYS))


def check_new_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password or "") <= MAX_PASSWORD:
        raise StaffError(
            f"La contraseña debe tener entre {MIN_PASSWORD} y {MAX_PASSWORD} caracteres."
        )
    if password == DEMO_PASSWORD:
        raise StaffError("Esa es la contraseña de demostración: elija otra.")


def create_user(
    slug: str, email: str, role: str, *, full_name: str = "", created_by: str = "operador"
) -> Enrolment:
    """A new user with a one-time enrolment link (they choose their password there)."""
    email = (email or "").strip().lower()
    if not EMAIL_RE.match(email) or len(email) > 254:
        raise StaffError("Escriba un correo electrónico válido.")
    if role not in ROLES:
        raise StaffError("El rol debe ser admin, operador o consulta.")
    if find_user(slug, email) is not None:
        raise StaffError(f"Ya existe un usuario con el correo {email}.")
    token = secrets.token_urlsafe(32)
    with write_unit():
        user = StaffUser(
            tenant=slug,
            email=email,
            full_name=(full_name or "").strip()[:160],
            role=role,
            session_token=secrets.token_hex(16),
            enrol_token_hash=_token_hash(token),
            enrol_expires_at=utcnow() + dt.timedelta(days=_enrol_days()),
            totp_last_step=0,
            failed_logins=0,
            created_by=created_by[:254],
        )
        db.session.add(user)
        db.session.flush()
        audit.record(slug, created_by, "user_created", email, f"rol {role}")
    return Enrolment(user, token)


def create_demo_user(slug: str, email: str, role: str, full_name: str, secret: str) -> bool:
    """Development only (the demo loader refuses production): enrolled, with a known secret."""
    if find_user(slug, email) is not None:
        return False
    with write_unit():
        db.session.add(
            StaffUser(
                tenant=slug,
                email=email,
                full_name=full_name,
                role=role,
                password_hash=hash_password(DEMO_PASSWORD),
                totp_secret=secret,
                totp_last_step=0,
                failed_logins=0,
                session_token=secrets.token_hex(16),
                created_by="demo",
            )
        )
    return True


def enrolment_user(slug: str, token: str) -> StaffUser | None:
    if not token or len(token) > 128:
        return None
    user = db.session.scalars(
        users_query(slug).where(StaffUser.enrol_token_hash == _token_hash(token))
    ).first()
    if user is None or not user.active or as_utc(user.enrol_expires_at) < utcnow():
        return None
    return user


def activate(slug: str, token: str, password: str) -> StaffUser | None:
    """Set the password with the one-time link; None when the link is invalid, used or old."""
    check_new_password(password)
    password_hash = hash_password(password)
    user = enrolment_user(slug, token)
    if user is None:
        return None
    now = utcnow()
    with write_unit():
        changed = db.session.execute(
            update(StaffUser)
            .where(
                StaffUser.id == user.id,
                StaffUser.tenant == slug,
                StaffUser.enrol_token_hash == _token_hash(token),
                StaffUser.enrol_expires_at > now,
                StaffUser.disabled_at.is_(None),
            )
            .values(
                password_hash=password_hash,
                enrol_token_hash=None,
                enrol_expires_at=None,
                session_token=secrets.token_hex(16),
                failed_logins=0,
                locked_until=None,
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        if changed != 1:
            return None
        audit.record(slug, user.email, "activated", user.email)
    return get_user(slug, user.id)


# --- login --------------------------------------------------------------------------------------


def _is_locked(user: StaffUser, now: dt.datetime) -> bool:
    return user.locked_until is not None and as_utc(user.locked_until) > now


def _count_failure(user: StaffUser, now: dt.datetime) -> bool:
    """One UPDATE that counts the failure and decides the lock; True if this one locked it.

    Rows already locked are not touched (the lock is not extended by more guesses); the count
    starts again from zero once a lock is set, so after it expires there are MAX_FAILURES more.
    """
    reached = StaffUser.failed_logins + 1 >= MAX_FAILURES
    with write_unit():
        locked = db.session.execute(
            update(StaffUser)
            .where(
                StaffUser.id == user.id,
                or_(StaffUser.locked_until.is_(None), StaffUser.locked_until <= now),
            )
            .values(
                failed_logins=case((reached, 0), else_=StaffUser.failed_logins + 1),
                locked_until=case((reached, now + dt.timedelta(minutes=LOCK_MINUTES)), else_=None),
            )
            .returning(StaffUser.locked_until)
            .execution_options(synchronize_session=False)
        ).scalar_one_or_none()
        audit.record(user.tenant, user.email, "login_failed", user.email)
        if locked is not None:
            audit.record(user.tenant, user.email, "locked", user.email, f"{MAX_FAILURES} fallos")
    return locked is not None


def check_credentials(slug: str, email: str, password: str) -> StaffUser | None:
    """First factor. None for an unknown e-mail, a wrong password, a lock or a disabled user,
    all alike from outside (same work, same answer)."""
    user = find_user(slug, email)
    ok = check_password(user.password_hash if user else None, password)
    if user is None:
        audit.log(slug, (email or "").strip().lower(), "login_failed", "correo desconocido")
        return None
    now = utcnow()
    if _is_locked(user, now):
        audit.log(slug, user.email, "login_failed", user.email, "bloqueado")
        return None
    if not ok or not user.active or not user.password_hash or refused_in_production(password):
        _count_failure(user, now)
        return None
    return user


def prepare_totp(user: StaffUser) -> StaffUser:
    """A user without a second factor gets a pending secret (shown as a QR code) until a code
    made with it is accepted."""
    if user.totp_secret is None and user.totp_pending is None:
        with write_unit():
            db.session.execute(
                update(StaffUser)
                .where(
                    StaffUser.id == user.id,
                    StaffUser.totp_secret.is_(None),
                    StaffUser.totp_pending.is_(None),
                )
                .values(totp_pending=new_totp_secret())
                .execution_options(synchronize_session=False)
            )
    return get_user(user.tenant, user.id)


def verify_code(user: StaffUser, code: str) -> StaffUser | None:
    """Second factor: the signed-in user, with a new session token, or None (counted)."""
    now = utcnow()
    user = get_user(user.tenant, user.id)
    if user is None or _is_locked(user, now) or not user.active:
        return None
    enrolling = user.totp_secret is None
    secret = user.totp_pending if enrolling else user.totp_secret
    step = totp_step(secret, code) if secret and not refused_in_production(secret=secret) else None
    if step is None:
        _count_failure(user, now)
        return None
    values: dict = {
        "failed_logins": 0,
        "totp_last_step": step,
        "session_token": secrets.token_hex(16),
        "previous_login_at": StaffUser.last_login_at,
        "last_login_at": now,
    }
    conditions = [
        StaffUser.id == user.id,
        StaffUser.disabled_at.is_(None),
        or_(StaffUser.locked_until.is_(None), StaffUser.locked_until <= now),
        StaffUser.totp_last_step < step,  # a code is good once
    ]
    if enrolling:
        values.update(totp_secret=secret, totp_pending=None)
        conditions += [StaffUser.totp_secret.is_(None), StaffUser.totp_pending == secret]
    else:
        conditions.append(StaffUser.totp_secret == secret)
    with write_unit():
        changed = db.session.execute(
            update(StaffUser)
            .where(*conditions)
            .values(**values)
            .execution_options(synchronize_session=False)
        ).rowcount
        if changed == 1:
            if enrolling:
                audit.record(user.tenant, user.email, "totp_enrolled", user.email)
            audit.record(user.tenant, user.email, "login", user.email)
    if changed != 1:
        _count_failure(user, now)
        return None
    return db.session.get(StaffUser, user.id, populate_existing=True)


def rotate_session(user: StaffUser) -> None:
    with write_unit():
        db.session.execute(
            update(StaffUser)
            .where(StaffUser.id == user.id)
            .values(session_token=secrets.token_hex(16))
            .execution_options(synchronize_session=False)
        )


def logout(user: StaffUser) -> None:
    """The token rotates: a copy of the old cookie is useless afterwards."""
    with write_unit():
        db.session.execute(
            update(StaffUser)
            .where(StaffUser.id == user.id)
            .values(session_token=secrets.token_hex(16))
            .execution_options(synchronize_session=False)
        )
        audit.record(user.tenant, user.email, "logout", user.email)


# --- administration -----------------------------------------------------------------------------


def _active_admins(slug: str) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(StaffUser)
        .where(StaffUser.tenant == slug, StaffUser.role == ADMIN, StaffUser.disabled_at.is_(None))
    )


def disable_user(slug: str, user: StaffUser, actor: str) -> None:
    """Disabled at once: the session token rotates, so an open session ends on its next click."""
    if not user.active:
        raise StaffError(f"{user.email} ya está desactivado.")
    with write_unit():
        if user.role == ADMIN and _active_admins(slug) <= 1:
            raise StaffError("No se puede desactivar al único administrador activo.")
        db.session.execute(
            update(StaffUser)
            .where(StaffUser.id == user.id, StaffUser.tenant == slug)
            .values(disabled_at=utcnow(), session_token=secrets.token_hex(16))
            .execution_options(synchronize_session=False)
        )
        audit.record(slug, actor, "user_disabled", user.email)


def enable_user(slug: str, user: StaffUser, actor: str) -> None:
    if user.active:
        raise StaffError(f"{user.email} ya está activo.")
    with write_unit():
        db.session.execute(
            update(StaffUser)
            .where(StaffUser.id == user.id, StaffUser.tenant == slug)
            .values(disabled_at=None, failed_logins=0, locked_until=None)
            .execution_options(synchronize_session=False)
        )
        audit.record(slug, actor, "user_enabled", user.email)


def reset_second_factor(slug: str, user: StaffUser, actor: str) -> None:
    """The user enrols a new authenticator at the next login (after the password)."""
    with write_unit():
        db.session.execute(
            update(StaffUser)
            .where(StaffUser.id == user.id, StaffUser.tenant == slug)
            .values(totp_secret=None, totp_pending=None, session_token=secrets.token_hex(16))
            .execution_options(synchronize_session=False)
        )
        audit.record(slug, actor, "totp_reset", user.email)


def new_enrolment_link(slug: str, user: StaffUser, actor: str) -> str:
    """A fresh one-time link (also how a forgotten password is replaced)."""
    token = secrets.token_urlsafe(32)
    with write_unit():
        db.session.execute(
            update(StaffUser)
            .where(StaffUser.id == user.id, StaffUser.tenant == slug)
            .values(
                enrol_token_hash=_token_hash(token),
                enrol_expires_at=utcnow() + dt.timedelta(days=_enrol_days()),
            )
            .execution_options(synchronize_session=False)
        )
        audit.record(slug, actor, "enrol_link", user.email)
    return token
