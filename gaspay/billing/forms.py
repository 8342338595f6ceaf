from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length


class LookupForm(FlaskForm):
    numero = StringField(
        "Número de Factura",
        validators=[
            DataRequired(message="Escriba el número de cliente o la referencia de pago."),
            Length(max=40, message="El número es demasiado largo: máximo 40 caracteres."),
        ],
    )
