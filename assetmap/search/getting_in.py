"""How a person gets in to a service: drop in, phone first, or a referral, from the record's own words.

One rule for every place that says it (search results, the handout): a Trussell Trust food bank
needs a referral voucher, so a handout must never tell the person to just go along.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

LABELS = {"drop_in": "Drop in", "call_first": "Phone first", "referral": "Referral needed"}

# Read in this order ("no referral needed" first): a referral outranks "phone first", which outranks "drop in"
# ("call us to arrange a referral" is a referral; "drop in, or call first" is phone first).
_RULES = (
    ("drop_in", re.compile(r"\bno (?:need (?:to|for) (?:book|a referral)|referral|appointment)s?\b"
                           r"|\bwithout (?:a )?(?:referral|appointment)", re.IGNORECASE)),
    ("referral", re.compile(r"\breferr|\bvoucher|\breferred\b|\bgp (?:must|will|can) refer|\bprofessional.{0,20}refer"
                            r"|\bby referral|\bsignpost(?:ed|ing) by", re.IGNORECASE)),
    ("call_first", re.compile(r"\b(?:call|phone|ring|telephone|contact|email|e-mail|book|booking|appointment)"
                              r"s?\b.{0,40}\b(?:first|before|ahead|advance|to (?:book|arrange|register))"
                              r"|\bby appointment|\bappointment (?:only|needed|required)|\bbook(?:ing)? "
                              r"(?:essential|required|needed)|\bplease (?:call|phone|ring|contact)"
                              r"|\bself[- ]refer", re.IGNORECASE)),
    ("drop_in", re.compile(r"\bdrop[- ]?in\b|\bjust (?:come|turn up|go) along|\bturn up\b|\bwalk[- ]?in\b"
                           r"|\bno (?:need to book|appointment|referral)|\ball welcome\b|\bcome along\b",
                           re.IGNORECASE)),
)


def how_to_get_in(application_process: str | None) -> dict[str, Any] | None:
    """{"kind", "label", "text"} from the record's application process (the text kept as it is);
    kind None when the words do not say; None when the record says nothing."""
    if not application_process:
        return None
    kind, text = _read(application_process)
    if not text:
        return None
    return {"kind": kind, "label": LABELS[kind] if kind else None, "text": text}


@lru_cache(maxsize=8192)  # a directory's records say it in a few hundred ways, read on every search
def _read(application_process: str) -> tuple[str | None, str]:
    text = " ".join(application_process.split())
    for kind, rule in _RULES:
        if rule.search(text):
            return kind, text
    return None, text
