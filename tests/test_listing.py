"""Every Open Referral list filter narrows both list endpoints, alone and in pairs (AND).

The oracle is a brute-force filter in Python over the full records the API itself
returns unfiltered, so it shares nothing with the SQL but the needs rule.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from flask.testing import FlaskClient
from pyproj import Geod
from sqlalchemy import Engine

from assetmap import schedules, taxonomy
from assetmap.directory import needs_of_term
from assetmap.geography import lookup
from assetmap.taxonomy import ACTIVITIES_TAXONOMY, stable_id
from tests.test_directory import place  # noqa: F401  (the module's directory, both backends)
from webapp import create_app

GEOD = Geod(ellps="WGS84")
POSTCODE = "G31 4EB"
VALUES = {
    "text": "food",
    "taxonomy_term_id": "loneliness",
    "taxonomy_id": stable_id("taxonomy", ACTIVITIES_TAXONOMY),
    "organization_id": stable_id("demo-org", "Parkhead"),
    "modified_after": "2022-01-01",
    "minimum_age": "12",
    "maximum_age": "64",
    "day": "tuesday",
    "start_time": "10:00:00",
    "end_time": "16:00:00",
    "postcode": POSTCODE,
    "proximity": "2500",
}


@pytest.fixture(scope="module")
def client(place: Engine) -> Iterator[FlaskClient]:  # noqa: F811
    url = place.url.render_as_string(hide_password=False)
    yield create_app({"DATABASE_URL": url, "TESTING": True, "PUBLIC_SEARCH": True}).test_client()


def everything(client: FlaskClient, endpoint: str, query: dict[str, str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for number in itertools.count(1):
        response = client.get(f"/api/{endpoint}", query_string={**query, "per_page": 100, "page": number})
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        found += body["contents"]
        if body["last_page"]:
            assert body["total_items"] == len(found)
            return found
    raise AssertionError("unreachable")


def _hhmm(value: Any) -> str | None:
    text = str(value or "")
    ok = len(text) >= 5 and text[:2].isdigit() and text[2] == ":" and text[3:5].isdigit() and int(text[:2]) < 24
    return text[:5] if ok else None


def _on(rule: schedules.Rule, day: int | None) -> bool:
    return day is None or (rule.freq == "MONTHLY" and bool(rule.monthdays)) or any(w == day for _, w in rule.days)


def _service_passes(record: dict[str, Any], asked: dict[str, str], vocabulary: taxonomy.Vocabulary) -> bool:
    """Open Referral's list filters, written out from the standard's descriptions."""
    if "text" in asked:
        fields = [record.get("name"), record.get("description"), (record.get("organization") or {}).get("name")]
        if not any(asked["text"].lower() in (f or "").lower() for f in fields):
            return False
    attributes = record.get("attributes") or []
    if "taxonomy_term_id" in asked:
        slug = asked["taxonomy_term_id"]
        if not any(slug in needs_of_term(vocabulary, (a.get("taxonomy_term") or {}).get("code"),
                                         (a.get("taxonomy_term") or {}).get("name")) for a in attributes):
            return False
    if "taxonomy_id" in asked and not any((a.get("taxonomy_term") or {}).get("taxonomy_id") == asked["taxonomy_id"]
                                          for a in attributes):
        return False
    if "organization_id" in asked and (record.get("organization") or {}).get("id") != asked["organization_id"]:
        return False
    if "modified_after" in asked:
        modified = record.get("last_modified")
        if not modified or dt.datetime.fromisoformat(modified.replace("Z", "+00:00")).replace(tzinfo=None) < \
                dt.datetime.fromisoformat(asked["modified_after"]):
            return False
    if "minimum_age" in asked and not (record.get("minimum_age") is not None and
                                       record["minimum_age"] >= float(asked["minimum_age"])):
        return False
    if "maximum_age" in asked and not (record.get("maximum_age") is not None and
                                       record["maximum_age"] <= float(asked["maximum_age"])):
        return False
    day = schedules.day_number(asked["day"]) if "day" in asked else None
    sessions = [(rule, _hhmm(s.get("opens_at")), _hhmm(s.get("closes_at")))
                for s in record.get("schedules") or [] for rule in [schedules.parse(s)] if rule]
    if day is not None and not any(_on(rule, day) for rule, _, _ in sessions):
        return False  # Open Referral's day: runs a session that day (unknown times do not match)
    if "start_time" in asked or "end_time" in asked:
        # The standard's times (HH:MM:SS) against schedules' HH:MM, to the minute.
        start, end = _hhmm(asked.get("start_time")), _hhmm(asked.get("end_time"))
        if not any(_on(rule, day) and (start is None or (opens is not None and opens >= start)) and
                   (end is None or (closes is not None and closes <= end)) for rule, opens, closes in sessions):
            return False
    return True


def _within(location: dict[str, Any] | None, centre: tuple[float, float], metres: float) -> bool:
    if not location or location.get("latitude") is None or location.get("longitude") is None:
        return False
    _, _, distance = GEOD.inv(centre[1], centre[0], location["longitude"], location["latitude"])
    return bool(distance <= metres)


def brute_force(services: list[dict[str, Any]], links: list[dict[str, Any]], endpoint: str, asked: dict[str, str],
                centre: tuple[float, float]) -> set[str]:
    vocabulary = taxonomy.load()
    metres = float(asked.get("proximity", 5000))
    near = "postcode" in asked
    by_id = {s["id"]: s for s in services}
    if endpoint == "services":
        return {s["id"] for s in services if _service_passes(s, asked, vocabulary) and (not near or any(
            _within(sal.get("location"), centre, metres) for sal in s.get("service_at_locations") or []))}
    return {link["id"] for link in links if _service_passes(by_id[link["service_id"]], asked, vocabulary)
            and (not near or _within(link.get("location"), centre, metres))}


def combinations() -> list[tuple[str, ...]]:
    names = [n for n in VALUES if n != "proximity"]
    singles = [(n,) for n in names] + [("postcode", "proximity")]
    pairs = [pair for pair in itertools.combinations(names, 2)]
    pairs += [("postcode", "proximity", n) for n in names if n != "postcode"]
    return singles + pairs


@pytest.mark.opendata
@pytest.mark.parametrize("endpoint", ["services", "service_at_locations"])
def test_each_list_filter_narrows_alone_and_with_every_other(client: FlaskClient, place: Engine,  # noqa: F811
                                                             endpoint: str) -> None:
    services = everything(client, "services", {})
    links = everything(client, "service_at_locations", {})
    assert len(services) > 200 and len(links) > 200
    whole = services if endpoint == "services" else links
    place_found = lookup(place, POSTCODE)
    centre = (place_found.latitude, place_found.longitude)
    wrong = []
    for names in combinations():
        asked = {n: VALUES[n] for n in names}
        found = {r["id"] for r in everything(client, endpoint, asked)}
        want = brute_force(services, links, endpoint, asked, centre)
        if found != want:
            wrong.append((names, sorted(found - want)[:2], sorted(want - found)[:2]))
        if len(names) == 1 or names == ("postcode", "proximity"):
            assert 0 < len(found) < len(whole), f"{names} did not narrow: {len(found)} of {len(whole)}"
    assert not wrong, wrong[:3]


@pytest.mark.opendata
def test_with_a_postcode_the_nearest_come_first(client: FlaskClient, place: Engine) -> None:  # noqa: F811
    here = lookup(place, POSTCODE)
    for endpoint in ("services", "service_at_locations"):
        found = everything(client, endpoint, {"postcode": POSTCODE, "proximity": "3000", "taxonomy_term_id": "food"})
        assert len(found) > 3
        metres = []
        for record in found:
            locations = ([sal["location"] for sal in record["service_at_locations"]] if endpoint == "services"
                         else [record["location"]])
            metres.append(min(GEOD.inv(here.longitude, here.latitude, loc["longitude"], loc["latitude"])[2]
                              for loc in locations if loc.get("latitude") is not None))
        assert metres == sorted(metres), endpoint
        assert np.max(metres) <= 3000


@pytest.mark.opendata
def test_a_filter_nobody_meets_returns_an_empty_page_not_everything_nearby(client: FlaskClient) -> None:
    for endpoint in ("services", "service_at_locations"):
        body = client.get(f"/api/{endpoint}?postcode=G31%204EB&minimum_age=200").get_json()
        assert body["total_items"] == 0 and body["contents"] == [] and body["empty"]
