"""All-party-consent jurisdictions by telephone number (pure).

A number maps to a jurisdiction: US/NANP numbers by area code (a state), other numbers by
country code. A call where either party's number is in an all-party-consent jurisdiction is
recorded only with consent (the stricter rule applies). The table follows
shared/research/05-telephony-patterns.md §3; it is not legal advice and should be reviewed
by counsel before use.
"""

from __future__ import annotations

from dataclasses import dataclass

# US states usually listed as all-party consent, plus Connecticut (phone calls), with
# their area codes.
ALL_PARTY_STATES: dict[str, tuple[str, ...]] = {
    "CA": ("209", "213", "279", "310", "323", "341", "350", "408", "415", "424", "442", "510",
           "530", "559", "562", "619", "626", "628", "650", "657", "661", "669", "707", "714",
           "747", "760", "805", "818", "820", "831", "840", "858", "909", "916", "925", "949",
           "951"),
    "CT": ("203", "475", "860", "959"),
    "DE": ("302",),
    "FL": ("239", "305", "321", "324", "352", "386", "407", "448", "561", "645", "656", "689",
           "727", "754", "772", "786", "813", "850", "863", "904", "941", "954"),
    "IL": ("217", "224", "309", "312", "331", "447", "464", "618", "630", "708", "730", "773",
           "779", "815", "847", "861", "872"),
    "MD": ("227", "240", "301", "410", "443", "667"),
    "MA": ("339", "351", "413", "508", "617", "774", "781", "857", "978"),
    "MT": ("406",),
    "NV": ("702", "725", "775"),
    "NH": ("603",),
    "PA": ("215", "223", "267", "272", "412", "445", "484", "570", "582", "610", "717", "724",
           "814", "835", "878"),
    "WA": ("206", "253", "360", "425", "509", "564"),
}
_AREA_STATE = {code: state for state, codes in ALL_PARTY_STATES.items() for code in codes}

# EU member states, EEA and the UK: GDPR (UK GDPR) makes a recording personal data, so the
# caller is asked (consent is the lawful basis we choose by default).
GDPR_COUNTRIES: dict[str, str] = {
    "30": "GR", "31": "NL", "32": "BE", "33": "FR", "34": "ES", "36": "HU", "39": "IT",
    "40": "RO", "43": "AT", "44": "UK", "45": "DK", "46": "SE", "47": "NO", "48": "PL",
    "49": "DE", "351": "PT", "352": "LU", "353": "IE", "354": "IS", "356": "MT", "357": "CY",
    "358": "FI", "359": "BG", "370": "LT", "371": "LV", "372": "EE", "385": "HR", "386": "SI",
    "420": "CZ", "421": "SK", "423": "LI",
}


@dataclass(frozen=True, slots=True)
class Jurisdiction:
    code: str  # "US-CA", "EU-DE", "UK", "US", "" (unknown)
    all_party: bool


def jurisdiction(number: str) -> Jurisdiction:
    """The jurisdiction of an E.164 number (``+14155550100`` -> US-CA, all-party)."""
    digits = number.strip()
    if digits.startswith("tel:"):
        digits = digits[4:]
    if not digits.startswith("+") or not digits[1:].isdigit():
        return Jurisdiction("", False)
    digits = digits[1:]
    if digits.startswith("1") and len(digits) == 11:
        state = _AREA_STATE.get(digits[1:4])
        return Jurisdiction(f"US-{state}", True) if state else Jurisdiction("US", False)
    for size in (3, 2):
        country = GDPR_COUNTRIES.get(digits[:size])
        if country:
            return Jurisdiction("UK" if country == "UK" else f"EU-{country}", True)
    return Jurisdiction("", False)


def all_party_rule(*numbers: str) -> str:
    """The all-party rule that applies to a call between ``numbers``: ``"all-party:US-CA"``
    (the first such party's jurisdiction), or ``""`` when none applies."""
    for number in numbers:
        place = jurisdiction(number)
        if place.all_party:
            return f"all-party:{place.code}"
    return ""
