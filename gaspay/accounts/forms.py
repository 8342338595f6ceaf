"""Forms of the client area; every message is what the payer reads next to the field."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    PasswordField,
    RadioField,
    StringField,
)
from wtforms.validators import (
    DataRequired,
    EqualTo,
    InputRequired,
    Length,
    Optional,
    ValidationError,
)

from gaspay.accounts.services import MIN_PASSWORD
from gaspay.formatting import parse_pesos

MAX_PASSWORD = 128  # hashing a huge text is a denial of service


class LoginForm(FlaskForm):
    email = EmailField(
        "Correo electrónico",
        validators=[
            DataRequired(message="Escriba el correo electrónico de su cuenta."),
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


class ForgotForm(FlaskForm):
    email = EmailField(
        "Correo electrónico",
        validators=[
            DataRequired(message="Escriba el correo electrónico de su cuenta."),
            Length(max=254, message="El correo es demasiado largo."),
        ],
    )


class ResetForm(FlaskForm):
    password = PasswordField(
        "Nueva contraseña",
        validators=[
            DataRequired(message="Escriba la nueva contraseña."),
            Length(
                min=MIN_PASSWORD,
                max=MAX_PASSWORD,
                message=f"La contraseña debe tener entre {MIN_PASSWORD} y {MAX_PASSWORD} "
                "caracteres.",
            ),
        ],
    )
    confirm = PasswordField(
        "Repita la nueva contraseña",
        validators=[
            DataRequired(message="Repita la nueva contraseña."),
            EqualTo("password", message="Las dos contraseñas no coinciden."),
        ],
    )


class PayForm(FlaskForm):
    """ "Términos y condiciones", "método de pago" and "Pagar con Wompi" on a notice."""

    acepta_terminos = BooleanField(
        "Acepto los términos y condiciones",
        validators=[DataRequired(message="Debe aceptar los términos y condiciones para pagar.")],
    )
    metodo = RadioField(
        "Método de pago",
        choices=[],
        validate_choice=False,  # checked below, with a message in Spanish
        validators=[InputRequired(message="Seleccione el método de pago.")],
    )

    def validate_metodo(self, field):
        if field.data not in {value for value, _ in field.choices}:
            raise ValidationError("Seleccione uno de los métodos de pago de la lista.")

    # Only where the company accepts partial payments; empty means the whole balance.
    abono = StringField("Valor a abonar", validators=[Optional()])

    def validate_abono(self, field):
        if (field.data or "").strip() and parse_pesos(field.data) is None:
            raise ValidationError(
                "Escriba el valor a abonar en pesos, solo con números, por ejemplo 10000."
            )

    @property
    def abono_cents(self) -> int | None:
        return parse_pesos(self.abono.data) if (self.abono.data or "").strip() else None
