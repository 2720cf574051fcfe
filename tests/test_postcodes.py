"""What a CLW types becomes a postcode, or a message saying what to change."""

from __future__ import annotations

import pytest

from assetmap.postcodes import PostcodeError, parse

FORGIVEN = [
    ("G1 1AB", "G1 1AB", "unit"),
    ("g11ab", "G1 1AB", "unit"),
    ("  g1    1ab ", "G1 1AB", "unit"),
    ("G1-1AB.", "G1 1AB", "unit"),
    ("(G1 1AB)", "G1 1AB", "unit"),
    ("Ｇ１ １ＡＢ", "G1 1AB", "unit"),  # full-width characters, as some keyboards type them
    ("G1\u00a01AB", "G1 1AB", "unit"),  # non-breaking space pasted from a web page
    ("eh11 2ab", "EH11 2AB", "unit"),
    ("W1A 0AX", "W1A 0AX", "unit"),
    ("EC1A 1BB", "EC1A 1BB", "unit"),
    ("G31", "G31", "district"),
    ("g31 4", "G31 4", "sector"),
    ("G314", "G31 4", "sector"),
    ("EH1 1", "EH1 1", "sector"),
    ("EH11", "EH11", "district"),
]


@pytest.mark.parametrize(("typed", "text", "kind"), FORGIVEN)
def test_case_spaces_and_punctuation_are_forgiven(typed: str, text: str, kind: str) -> None:
    parsed = parse(typed)
    assert (parsed.text, parsed.kind) == (text, kind)


BAD = [
    ("", "no postcode given"),
    ("   ", "no postcode given"),
    ("NOT A POSTCODE", "is not a postcode"),
    ("G1 1AB; DROP TABLE", "is not a postcode"),
    ("x" * 200, "too long"),
    ("G1 1АB", "U+0410 CYRILLIC CAPITAL LETTER A"),  # Cyrillic А looks like A
    ("G1 1AΒ", "GREEK CAPITAL LETTER BETA"),
    ("G1 1AB\u200b", "ZERO WIDTH SPACE"),
    ("1G 1AB", "is not a postcode"),
    ("G1 1A", "is not a postcode"),
]


@pytest.mark.parametrize(("typed", "says"), BAD)
def test_what_cannot_be_a_postcode_gets_a_reason_and_an_example(typed: str, says: str) -> None:
    with pytest.raises(PostcodeError) as caught:
        parse(typed)
    message = str(caught.value)
    assert says in message
    assert "\n" not in message
