"""Turning what a CLW types into a UK postcode, or saying plainly why it is not one.

Case, missing or extra spaces and stray punctuation are forgiven; anything else
gets a message that says what to change. Partial postcodes (a district such as
``G31`` or a sector such as ``G31 4``) are recognised so they can be placed
approximately.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from assetmap.errors import AssetmapError

Kind = Literal["unit", "sector", "district"]

MAX_LENGTH = 24  # generous: "G1 1AB" with stray spaces and punctuation around it
_OUTWARD = r"[A-Z]{1,2}[0-9][A-Z0-9]?"
_UNIT = re.compile(rf"^({_OUTWARD})([0-9][A-Z]{{2}})$")
# A unit already in the normalised form, as directories mostly give it ("G1 1AB").
NORMAL_UNIT = re.compile(rf"{_OUTWARD} [0-9][A-Z]{{2}}")
_SECTOR = re.compile(rf"^({_OUTWARD})([0-9])$")
_DISTRICT = re.compile(rf"^{_OUTWARD}$")
# Forgiven: spaces (including non-breaking), and punctuation people type or paste around postcodes.
_IGNORED = set(" \t\u00a0.,-_;:/\\'\"()[]")

EXAMPLE = "a postcode looks like G1 1AB (or G31 or G31 4 for a district or sector)"


class PostcodeError(AssetmapError):
    """What was typed cannot be a postcode."""


@dataclass(frozen=True)
class Postcode:
    text: str  # normalised: "G1 1AB", "G31 4", "G31"
    kind: Kind

    @property
    def outward(self) -> str:
        return self.text.split(" ")[0]


def _describe(char: str) -> str:
    name = unicodedata.name(char, "unknown character")
    return f"{char!r} (U+{ord(char):04X} {name})"


def parse(typed: str) -> Postcode:
    """Normalise a full or partial postcode, or raise PostcodeError saying why not."""
    if typed is None or not str(typed).strip():
        raise PostcodeError(f"no postcode given: {EXAMPLE}")
    raw = str(typed)
    if len(raw.strip()) > MAX_LENGTH:
        raise PostcodeError(f"{raw.strip()[:20]!r}... ({len(raw.strip())} characters) is too long to be a postcode: {EXAMPLE}")
    # NFKC folds full-width and other compatibility forms ("Ｇ１") into plain ones.
    folded = unicodedata.normalize("NFKC", raw).upper()
    squeezed = "".join(ch for ch in folded if ch not in _IGNORED)
    strange = [ch for ch in squeezed if not ("A" <= ch <= "Z" or "0" <= ch <= "9")]
    if strange:
        raise PostcodeError(
            f"{raw.strip()!r} contains {_describe(strange[0])}, which is not a letter or digit used "
            f"in postcodes: retype it using plain letters and digits"
        )
    unit = _UNIT.match(squeezed)
    if unit:
        return Postcode(f"{unit.group(1)} {unit.group(2)}", "unit")
    # "G31" alone is a district; "G31 4" (or "G314") a sector. As typed with a space,
    # the part before it is the district, which settles "EH1 1" against "EH11".
    parts = folded.split()
    if len(parts) == 2 and _DISTRICT.match(_clean(parts[0])) and re.fullmatch(r"[0-9]", _clean(parts[1])):
        return Postcode(f"{_clean(parts[0])} {_clean(parts[1])}", "sector")
    if _DISTRICT.match(squeezed):
        return Postcode(squeezed, "district")
    sector = _SECTOR.match(squeezed)
    if sector:
        return Postcode(f"{sector.group(1)} {sector.group(2)}", "sector")
    raise PostcodeError(f"{raw.strip()!r} is not a postcode: {EXAMPLE}")


def _clean(part: str) -> str:
    return "".join(ch for ch in part if ch not in _IGNORED)


def normalise_unit(value: str) -> str | None:
    """A directory's postcode in the normalised form, or None if it is not a full unit.

    For importers: fast, silent, and strict (no partial postcodes).
    """
    squeezed = value.replace(" ", "").upper()
    match = _UNIT.match(squeezed)
    return f"{match.group(1)} {match.group(2)}" if match else None


def normalise_units(values: Sequence[str]) -> list[str | None]:
    """``normalise_unit`` of each value; those already normalised (most, in a directory) pass
    without a Python step each, which matters at millions of rows."""
    return [value if ok else normalise_unit(value) for value, ok in zip(values, map(NORMAL_UNIT.fullmatch, values))]
