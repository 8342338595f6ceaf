"""Forms of the staff area; every message is what staff read next to the field, in Spanish.

POST forms are FlaskForms (CSRF token checked); the payments filter is a GET form (a plain
WTForms ``Form``: a search changes nothing, and its URL can be shared or bookmarked).
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    EmailField,
    Form,
    HiddenField,
    PasswordField,
    RadioField,
    SearchField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    EqualTo,
    InputRequired,
    Length,
    Optional,
    Regexp,
    ValidationError,
)

from gaspay.payments.receipts import STATE_WORDS
from gaspay.staff.exports import FORMATS
from gaspay.staff.models import ROLE_NAMES
from gaspay.staff.reviews import DECISIONS, MAX_NOTE
from gaspay.staff.services import MAX_PASSWORD, MIN_PASSWORD


def options(pairs) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


DATE_MESSAGE = "Escriba la fecha como AAAA-MM-DD, por ejemplo 2026-04-14."


class LoginForm(FlaskForm):
    email = EmailField(
        "Correo electrónico",
        validators=[
            DataRequired(message="Escriba su correo electrónico."),
            Length(max=254, message="El correo es demasiado largo."),
        ],
    )
    password = PasswordField(
        "Contraseña",
        validators=[
            DataRequired(message="Escriba su contraseña."),
            Length(max=MAX_PASSWORD, message="La contraseña es demasiado larga."),
        ],
    )
    next = HiddenField()


class CodeForm(FlaskForm):
    code = StringField(
        "Código de verificación",
        validators=[
            DataRequired(message="Escriba el código de seis dígitos de su aplicación."),
            Regexp(r"^\s*\d{3}\s?\d{3}\s*$", message="El código tiene seis dígitos."),
        ],
    )
    next = HiddenField()


class ActivateForm(FlaskForm):
    password = PasswordField(
        "Contraseña nueva",
        validators=[
            DataRequired(message="Escriba la contraseña nueva."),
            Length(
                min=MIN_PASSWORD,
                max=MAX_PASSWORD,
                message=f"La contraseña debe tener entre {MIN_PASSWORD} y {MAX_PASSWORD} "
                "caracteres.",
            ),
        ],
    )
    confirm = PasswordField(
        "Repita la contraseña",
        validators=[
            DataRequired(message="Repita la contraseña."),
            EqualTo("password", message="Las dos contraseñas no coinciden."),
        ],
    )


class FilterForm(Form):
    """The payments list's filters (GET)."""

    desde = DateField(
        "Desde", format="%Y-%m-%d", validators=[Optional()], render_kw={"type": "date"}
    )
    hasta = DateField(
        "Hasta", format="%Y-%m-%d", validators=[Optional()], render_kw={"type": "date"}
    )
    estado = SelectField(
        "Estado",
        choices=options([("", "Todos"), *STATE_WORDS.items()]),
        validate_choice=True,
        validators=[Optional()],
    )
    medio = SelectField("Medio de pago", choices=[], validators=[Optional()])
    canal = SelectField("Canal", choices=[], validators=[Optional()])
    banco = StringField(
        "Banco", validators=[Optional(), Length(max=80, message="El banco es demasiado largo.")]
    )
    q = SearchField(
        "Buscar",
        validators=[Optional(), Length(max=120, message="La búsqueda es demasiado larga.")],
    )

    def __init__(self, formdata, *, methods, gateways):
        super().__init__(formdata)
        self.medio.choices = options([("", "Todos"), *methods.items()])
        self.canal.choices = options([("", "Todos"), *gateways.items()])

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        for field in (self.desde, self.hasta):
            if field.errors:
                field.errors[:] = [DATE_MESSAGE]
        for field in (self.estado, self.medio, self.canal):
            if field.errors:
                field.errors[:] = ["Seleccione una opción de la lista."]
        if ok and self.desde.data and self.hasta.data and self.hasta.data < self.desde.data:
            self.hasta.errors = ["La fecha final es anterior a la inicial."]
            return False
        return ok


class NoteForm(FlaskForm):
    nota = TextAreaField(
        "Nota",
        validators=[
            DataRequired(message="Escriba la nota."),
            Length(max=MAX_NOTE, message=f"La nota no puede pasar de {MAX_NOTE} caracteres."),
        ],
    )


class ResolveForm(FlaskForm):
    decision = RadioField(
        "Decisión",
        choices=options(DECISIONS.items()),
        validate_choice=False,
        validators=[InputRequired(message="Seleccione la decisión.")],
    )
    nota = TextAreaField(
        "Nota",
        validators=[
            DataRequired(message="Escriba una nota que explique la decisión."),
            Length(max=MAX_NOTE, message=f"La nota no puede pasar de {MAX_NOTE} caracteres."),
        ],
    )

    def validate_decision(self, field):
        if field.data not in DECISIONS:
            raise ValidationError("Seleccione una de las decisiones de la lista.")


class ExportForm(FlaskForm):
    formato = RadioField(
        "Formato",
        choices=options(FORMATS.items()),
        default="csv",
        validate_choice=False,
        validators=[InputRequired(message="Seleccione el formato.")],
    )
    desde = DateField(
        "Desde",
        format="%Y-%m-%d",
        validators=[InputRequired(message=DATE_MESSAGE)],
        render_kw={"type": "date"},
    )
    hasta = DateField(
        "Hasta",
        format="%Y-%m-%d",
        validators=[InputRequired(message=DATE_MESSAGE)],
        render_kw={"type": "date"},
    )

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        for field in (self.desde, self.hasta):
            if field.errors:
                field.errors[:] = [DATE_MESSAGE]
        if self.formato.data not in FORMATS:
            self.formato.errors = ["Seleccione uno de los formatos de la lista."]
            return False
        return ok


class UserForm(FlaskForm):
    email = EmailField(
        "Correo electrónico",
        validators=[
            DataRequired(message="Escriba el correo electrónico."),
            Length(max=254, message="El correo es demasiado largo."),
        ],
    )
    nombre = StringField(
        "Nombre", validators=[Length(max=160, message="El nombre es demasiado largo.")]
    )
    rol = SelectField(
        "Rol",
        choices=options(ROLE_NAMES.items()),
        validate_choice=False,
        validators=[InputRequired(message="Seleccione el rol.")],
    )

    def validate_rol(self, field):
        if field.data not in ROLE_NAMES:
            raise ValidationError("Seleccione uno de los roles de la lista.")


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token."""
