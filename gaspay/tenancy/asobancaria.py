"""The tenant file's ``[asobancaria]`` section: what the Asobancaria 2001 export needs.

See ``shared/docs/asobancaria-2001.md``. Everything the layout leaves UNCONFIRMED is a setting
here (whether the NIT carries its check digit is simply what the operator writes in ``nit``;
the origin and channel of each payment method; the file modifier).

```toml
[asobancaria]
nit = "8001234561"            # up to 10 digits, as the billing system expects it
bank_code = "007"             # collecting bank, 3 digits
account = "123456789012"      # collecting account, up to 17 digits
account_type = "01"           # 01 savings, 02 checking
service_code = "7709998000017"  # EAN-13 / GLN of the service, up to 13 digits
reference = "client_number"   # or "payment_reference", "bill_number"
file_modifier = "A"           # optional, default A

[asobancaria.methods]         # the gateway's payment method -> origin and channel of each 06
PSE = { origin = "03", channel = "15" }
CARD = { origin = "01", channel = "25" }
```
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REFERENCES = ("client_number", "payment_reference", "bill_number")
# The layout document's own mapping for the portal (PSE is ACH, internet; a card is channel 25).
DEFAULT_METHODS = {"PSE": ("03", "15"), "CARD": ("01", "25")}
_DIGITS = {
    "nit": 10,
    "bank_code": 3,
    "account": 17,
    "service_code": 13,
}


@dataclass(frozen=True)
class AsobancariaSettings:
    nit: str
    bank_code: str
    account: str
    account_type: str
    service_code: str
    reference: str
    methods: tuple[tuple[str, str, str], ...]  # (method, origin, channel)
    file_modifier: str = "A"

    def origin_channel(self, method: str | None) -> tuple[str, str] | None:
        wanted = (method or "").upper()
        for name, origin, channel in self.methods:
            if name == wanted:
                return origin, channel
        return None


def parse_asobancaria(data: object, path: Path, error: type[Exception]) -> AsobancariaSettings:
    """Validate the section; ``error`` (TenantConfigError) names the file and the field."""
    if not isinstance(data, dict):
        raise error(f"{path}: field 'asobancaria' must be a table")
    values: dict[str, str] = {}
    for key in ("nit", "bank_code", "account", "account_type", "service_code", "reference"):
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            raise error(f"{path}: field 'asobancaria.{key}' is missing or empty")
        values[key] = value.strip()
    for key, width in _DIGITS.items():
        if not re.fullmatch(rf"[0-9]{{1,{width}}}", values[key]):
            raise error(f"{path}: field 'asobancaria.{key}' must be 1 to {width} digits")
    if values["account_type"] not in ("01", "02"):
        raise error(f'{path}: field \'asobancaria.account_type\' must be "01" or "02"')
    if values["reference"] not in REFERENCES:
        raise error(f"{path}: field 'asobancaria.reference' must be one of {list(REFERENCES)}")
    modifier = data.get("file_modifier", "A")
    if not isinstance(modifier, str) or not re.fullmatch(r"[A-Z]", modifier):
        raise error(f"{path}: field 'asobancaria.file_modifier' must be one letter A-Z")
    methods = dict(DEFAULT_METHODS)
    raw_methods = data.get("methods", {})
    if not isinstance(raw_methods, dict):
        raise error(f"{path}: field 'asobancaria.methods' must be a table")
    for name, entry in raw_methods.items():
        where = f"asobancaria.methods.{name}"
        if not isinstance(entry, dict):
            raise error(f'{path}: field \'{where}\' must be {{ origin = "03", channel = "15" }}')
        origin, channel = entry.get("origin"), entry.get("channel")
        for key, value in (("origin", origin), ("channel", channel)):
            if not isinstance(value, str) or not re.fullmatch(r"[0-9]{2}", value):
                raise error(f"{path}: field '{where}.{key}' must be two digits")
        methods[name.upper()] = (origin, channel)
    unknown = set(data) - {*values, "file_modifier", "methods"}
    if unknown:
        raise error(f"{path}: unknown field(s) in 'asobancaria': {sorted(unknown)}")
    return AsobancariaSettings(
        **values,
        methods=tuple((name, o, c) for name, (o, c) in sorted(methods.items())),
        file_modifier=modifier,
    )
