"""The rules for every field a person or a file can set, in one place.

The edit form, the Open Referral importer and the spreadsheet importer all ask
here, so a value is judged the same whichever way it comes in. A rule either
returns the clean value or raises :class:`FieldProblem`, whose ``reason`` says what
is wrong and ``advice`` what to give instead. The form shows both next to the field
(and keeps what was typed); an importer leaves just that field out and says so.

The limits:

- names (of a service, organisation, venue, contact, ...): 255 characters;
- a web address 2,000, an email address 254 (the longest a mail server takes);
- a phone number 255 (with a note), a postcode typed in the form 16 (in a file 255:
  it is required there, and a foreign one may be odd), short lines (address lines,
  a cost in words, "when" in words) 1,000;
- any other text (a description, eligibility, ...): 10,000 characters, a long page;
- a cost: a finite number of pounds from 0 to 100,000 (no community activity
  costs more; a bigger figure is a typo or pence);
- an age: 0 to 120; latitude -90..90, longitude -180..180, both or neither
  (``coordinates``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

NAME_LENGTH = 255
URL_LENGTH = 2_000
EMAIL_LENGTH = 254
PHONE_LENGTH = 255  # a number and a note ("ask for Jo, Mon-Fri"), as directories write them
POSTCODE_LENGTH = 16
LINE_LENGTH = 1_000
TEXT_LENGTH = 10_000
MAX_COST = 100_000.0
AGES = (0.0, 120.0)
LATITUDES = (-90.0, 90.0)
LONGITUDES = (-180.0, 180.0)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_URL = re.compile(r"^https?://\S+$", re.IGNORECASE)


class FieldProblem(ValueError):
    """One value breaks its field's rule: ``reason`` is what is wrong, ``advice`` what to give."""

    def __init__(self, reason: str, advice: str) -> None:
        self.reason, self.advice = reason, advice
        super().__init__(f"{reason}: {advice}")


Rule = Callable[[Any], Any]


def shown(value: Any) -> str:
    """A value as a message quotes it: short, so a 10,000-character cell does not fill the report."""
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return repr(text if len(text) <= 30 else text[:27] + "...")


def text(limit: int = TEXT_LENGTH) -> Rule:
    """Text of at most ``limit`` characters (after trimming the ends)."""
    def rule(value: Any) -> Any:
        if value is None:
            return None
        if len(str(value)) > limit:
            raise FieldProblem(f"is {len(str(value)):,} characters long, more than {limit:,}",
                               f"shorten it to {limit:,} characters or fewer")
        return value
    return rule


def url(value: Any) -> Any:
    """A web address a page may link to: http(s) only, so a javascript: or data: link never gets in."""
    if value is None:
        return None
    text(URL_LENGTH)(value)
    if not _URL.match(str(value).strip()):
        raise FieldProblem(f"{shown(value)} is not a web address", "give a web address starting http:// or https://")
    return value


def email(value: Any) -> Any:
    if value is None:
        return None
    text(EMAIL_LENGTH)(value)
    if not _EMAIL.match(str(value).strip()):
        raise FieldProblem(f"{shown(value)} is not an email address", "give an address such as name@example.org")
    return value


def number(low: float, high: float, what: str, span: str, advice: str) -> Rule:
    """A finite number from ``low`` to ``high``; text that reads as a number is read."""
    def rule(value: Any) -> float | None:
        if value is None:
            return None
        try:
            if isinstance(value, bool):
                raise ValueError
            amount = float(str(value).strip().lstrip("£").replace(",", "")) if isinstance(value, str) else float(value)
        except (TypeError, ValueError):
            raise FieldProblem(f"{shown(value)} is not {what}", advice) from None
        if not math.isfinite(amount):
            raise FieldProblem(f"{shown(value)} is not {what}", advice)
        if not low <= amount <= high:
            raise FieldProblem(f"{shown(value)} is outside {span}", advice)
        return amount
    return rule


pounds = number(0, MAX_COST, "a number of pounds", f"£0 to £{MAX_COST:,.0f}",
                f"give a cost from £0 to £{MAX_COST:,.0f}, 'free', or words such as 'donation welcome'")
age = number(*AGES, "an age", f"{AGES[0]:.0f} to {AGES[1]:.0f}",
             f"give an age from {AGES[0]:.0f} to {AGES[1]:.0f}, or leave it empty")
latitude = number(*LATITUDES, "a latitude", "-90 to 90", "give a latitude from -90 to 90, or place the pin on the map")
longitude = number(*LONGITUDES, "a longitude", "-180 to 180",
                   "give a longitude from -180 to 180, or place the pin on the map")


FREE_WORDS = ("free", "0", "0.00", "no charge", "none")


def cost(value: Any) -> float | str | None:
    """A cost as people write it: "free" (0.0), an amount in pounds (a float), or words such as
    "donation welcome" (kept as text). Anything that reads as a number ("inf", "1e12", "-1")
    is an amount, and must be one a person could pay."""
    if value is None:
        return None
    text(LINE_LENGTH)(value)
    lowered = str(value).strip().lower().lstrip("£").strip()
    if lowered in FREE_WORDS:
        return 0.0
    try:
        float(lowered.replace(",", ""))
    except ValueError:
        return str(value)
    return pounds(str(value).strip())  # as typed, so the message shows what they typed


def finite(value: Any) -> Any:
    """Any number stored: never infinite or not-a-number, which JSON cannot carry."""
    if isinstance(value, float) and not math.isfinite(value):
        raise FieldProblem(f"{shown(value)} is not a number", "give a finite number")
    return value


# The edit form's fields (assetmap.editing.FIELDS) -> rule. Ages, cost and coordinates
# need the form's own handling around them (empty, "free", both or neither), so they
# are checked there with the rules above.
FORM: dict[str, Rule] = {
    "name": text(NAME_LENGTH), "organization": text(NAME_LENGTH), "description": text(TEXT_LENGTH),
    "url": url, "email": email, "phone": text(PHONE_LENGTH), "location_name": text(NAME_LENGTH),
    "address": text(LINE_LENGTH), "postcode": text(POSTCODE_LENGTH), "when": text(LINE_LENGTH),
    "cost": cost,
}
# The most characters each form field takes, for the inputs' maxlength.
FORM_LENGTHS: dict[str, int] = {
    "name": NAME_LENGTH, "organization": NAME_LENGTH, "description": TEXT_LENGTH, "url": URL_LENGTH,
    "email": EMAIL_LENGTH, "phone": PHONE_LENGTH, "location_name": NAME_LENGTH, "address": LINE_LENGTH,
    "postcode": POSTCODE_LENGTH, "when": LINE_LENGTH, "cost": LINE_LENGTH,
}

# Open Referral columns (table, column) with a rule of their own; every other text
# column takes TEXT_LENGTH characters and every other number must be finite.
_URLS = {("service", "url"), ("organization", "website"), ("location", "url")}
_EMAILS = {("service", "email"), ("organization", "email"), ("contact", "email"), ("service", "assurer_email")}
_NUMBERS: dict[tuple[str, str], Rule] = {
    ("cost_option", "amount"): pounds, ("service", "minimum_age"): age, ("service", "maximum_age"): age,
}
_NAMES = {"name", "alternate_name"}
_SHORT = {("phone", "number"): PHONE_LENGTH, ("address", "postal_code"): NAME_LENGTH}


def column_rule(table: str, column: str) -> Rule:
    """The rule for one Open Referral column (ids and pointers are left to the importer's own checks)."""
    key = (table, column)
    if key in _URLS:
        return url
    if key in _EMAILS:
        return email
    if key in _NUMBERS:
        return _NUMBERS[key]
    if key in _SHORT:
        return text(_SHORT[key])
    if column in _NAMES:
        return text(NAME_LENGTH)
    return _ANY


def _any(value: Any) -> Any:
    if isinstance(value, str):
        return text(TEXT_LENGTH)(value)
    return finite(value)


_ANY: Rule = _any


class CoordinatesProblem(FieldProblem):
    """Coordinates that are no point on Earth. ``field`` is the one at fault (or the one given
    without the other); ``refusal`` says it as a strict import refuses the file."""

    def __init__(self, field: str, reason: str, advice: str, refusal: str) -> None:
        super().__init__(reason, advice)
        self.field, self.refusal = field, refusal


def coordinates(lat: Any, lon: Any, names: tuple[str, str] = ("latitude", "longitude")) -> tuple[float, float] | None:
    """A point on Earth, or None when neither is given: the one rule for coordinates in every
    file (latitude -90..90, longitude -180..180, both or neither), since half a point or one
    off the globe cannot be placed. ``names`` are the file's own words for the two."""
    if lat is None and lon is None:
        return None
    if lat is None or lon is None:
        given, missing = names if lat is not None else (names[1], names[0])
        raise CoordinatesProblem(given, f"{shown(lat if lat is not None else lon)} is given without a {missing}",
                                 f"give both {names[0]} and {names[1]}, or neither", f"has {given} but not {missing}")
    return _coordinate(lat, names[0], latitude), _coordinate(lon, names[1], longitude)


def _coordinate(value: Any, name: str, rule: Rule) -> float:
    try:
        return float(rule(value))
    except FieldProblem as problem:
        try:
            amount = float(value)
        except (TypeError, ValueError):
            amount = math.nan
        refusal = (f"{name} {amount} is impossible (latitude -90..90, longitude -180..180)" if math.isfinite(amount)
                   else f"{name} is {value!r}, it must be a number")
        raise CoordinatesProblem(name, problem.reason, problem.advice, refusal) from None


def left_out(where: str, column: str, problem: FieldProblem, what: str = "left out") -> str:
    """The import report's line for a field that was left out (``what`` says so if more went with it)."""
    return f"{where}: {column} {problem.reason}; {what}"
