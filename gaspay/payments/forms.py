"""The PSE bank step: every field checked here, before anything reaches the gateway."""

from __future__ import annotations

import re

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, RadioField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    Optional,
    Regexp,
    ValidationError,
)

PLACEHOLDER = "A continuación seleccione su banco"
PERSON_TYPES = [SelectChoice("0", "Persona"), SelectChoice("1", "Empresa")]
DOCUMENT_TYPES = [
    SelectChoice("CC", "Cédula de ciudadanía"),
    SelectChoice("CE", "Cédula de extranjería"),
    SelectChoice("TI", "Tarjeta de identidad"),
    SelectChoice("PP", "Pasaporte"),
    SelectChoice("NIT", "NIT"),
]
DIGITS = re.compile(r"^\d{5,15}$")
PASSPORT = re.compile(r"^[A-Z0-9]{5,15}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
PHONE = re.compile(r"^3\d{9}$|^[1-9]\d{6,9}$")


class PseForm(FlaskForm):
    factura = HiddenField(validators=[DataRequired()])
    tipo_cliente = RadioField(
        "Tipo Cliente",
        choices=PERSON_TYPES,
        validators=[InputRequired(message="Seleccione si paga como persona o como empresa.")],
    )
    banco = SelectField(
        PLACEHOLDER,
        choices=[],
        validate_choice=False,
        validators=[DataRequired(message="Seleccione su banco de la lista.")],
    )
    tipo_documento = SelectField(
        "Tipo de documento",
        choices=DOCUMENT_TYPES,
        validators=[DataRequired(message="Seleccione el tipo de documento.")],
    )
    documento = StringField(
        "Número de documento",
        validators=[
            DataRequired(message="Escriba el número de documento del titular de la cuenta.")
        ],
    )
    nombre = StringField(
        "Nombre del titular de la cuenta",
        validators=[
            DataRequired(message="Escriba el nombre del titular de la cuenta."),
            Length(max=120, message="El nombre es demasiado largo."),
        ],
    )
    email = EmailField(
        "Correo electrónico",
        validators=[
            Optional(),
            Regexp(EMAIL, message="Escriba un correo electrónico válido, como nombre@correo.com."),
            Length(max=254, message="El correo es demasiado largo."),
        ],
    )
    telefono = StringField("Teléfono celular", validators=[Optional()])
    acepta_terminos = BooleanField(
        validators=[DataRequired(message="Debe aceptar los términos y condiciones de la pasarela.")]
    )
    acepta_datos = BooleanField(
        validators=[DataRequired(message="Debe autorizar el tratamiento de sus datos personales.")]
    )

    # The bill's own contact data stands in for an empty field (the server fills it for the
    # gateway); it is never sent to the page, so there is nothing to unmask.
    bill_has_email = False
    bill_has_phone = False

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        if not (self.email.data or "").strip() and not self.bill_has_email:
            self.email.errors = [
                *self.email.errors,
                "Escriba su correo electrónico para recibir el comprobante.",
            ]
            valid = False
        if not (self.telefono.data or "").strip() and not self.bill_has_phone:
            self.telefono.errors = [*self.telefono.errors, "Escriba un teléfono de contacto."]
            valid = False
        return valid

    def set_banks(self, banks: list[tuple[str, str]]) -> None:
        self._banks = dict(banks)
        self.banco.choices = [
            SelectChoice("", PLACEHOLDER),
            *(SelectChoice(code, name) for code, name in banks),
        ]

    def bank_name(self) -> str:
        return self._banks.get(self.banco.data, "")

    def validate_banco(self, field):
        if field.data in ("", "0") or field.data not in getattr(self, "_banks", {}):
            raise ValidationError("Seleccione su banco de la lista.")

    def validate_tipo_documento(self, field):
        if self.tipo_cliente.data == "1" and field.data != "NIT":
            raise ValidationError("Para pagos de empresa el documento debe ser NIT.")
        if self.tipo_cliente.data == "0" and field.data == "NIT":
            raise ValidationError("Para personas use cédula, tarjeta de identidad o pasaporte.")

    def validate_documento(self, field):
        value = re.sub(r"[\s.\-]", "", field.data or "").upper()
        pattern = PASSPORT if self.tipo_documento.data == "PP" else DIGITS
        if not pattern.match(value):
            raise ValidationError("Escriba solo los números del documento (entre 5 y 15).")
        field.data = value

    def validate_email(self, field):
        if "*" in (field.data or ""):  # a masked value copied from the page
            raise ValidationError("Escriba su correo electrónico completo, sin asteriscos.")

    def validate_telefono(self, field):
        value = re.sub(r"[\s\-()+]", "", field.data or "")
        if value.startswith("57") and len(value) == 12:
            value = value[2:]
        if not PHONE.match(value):
            raise ValidationError("Escriba un teléfono de 7 a 10 dígitos, por ejemplo 3001234567.")
        field.data = value
