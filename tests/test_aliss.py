"""ALISS's API answers imported as Open Referral records, on the real files in ../shared/aliss.

Following ``next`` is tested against a real HTTP server (http.server in a thread) serving
the real pages, with their links pointing at it; offline, HTTP errors and slow servers
are real too (a closed port, a 404, a handler that sleeps).
"""

from __future__ import annotations

import csv
import datetime as dt
import http.server
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, String, Text, select

from assetmap import directory, editing, listing, taxonomy
from assetmap.accounts import create_user
from assetmap.db import connect
from assetmap.directory import needs_of_term
from assetmap.errors import ConfigError
from assetmap.frames import services_frame
from assetmap.gaps import supply
from assetmap.io import aliss
from assetmap.io.assets import import_assets
from assetmap.io.oruk import ORDER, TABLES
from assetmap.io.report import ImportFileError, ImportReport
from assetmap.models import (
    Accessibility,
    Address,
    Attribute,
    AuditEntry,
    Base,
    Location,
    Organization,
    Phone,
    Service,
    ServiceArea,
    ServiceAtLocation,
    TaxonomyTerm,
)
from assetmap.search import Searcher
from assetmap.search.query import check_accessibility
from tests.cli import run_assetmap
from tests.conftest import IN_CI, shared_dir
from tests.snapshots import fingerprint
from tests.webclient import PASSWORD, signed_in

FILES = ("v4-services-search-G2-4AA.json", "v4.1-service.json", "v4.1-organisation.json")
DIRECTORY = tuple(m.class_ for m in Base.registry.mappers if m.local_table.name in ORDER)


@pytest.fixture(scope="session")
def aliss_dir() -> Path:
    folder = shared_dir() / "aliss"
    if not (folder / "aliss-categories.csv").exists():
        message = f"ALISS's files are not at {folder}: set ASSETMAP_SHARED_DIR to the folder holding aliss/"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return folder


def raw(aliss_dir: Path, name: str) -> dict[str, Any]:
    return json.loads((aliss_dir / name).read_text(encoding="utf-8"))


def raw_services(aliss_dir: Path) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(service, organisation) as the three real files give them, read plainly."""
    page, one, organisation = (raw(aliss_dir, name) for name in FILES)
    found = [(s, s["organisation"]) for s in page["data"]]
    found.append((one["data"], one["data"]["organisation"]))
    found += [(s, organisation["data"]) for s in organisation["data"]["services"]]
    return found


def import_all(engine: Engine, aliss_dir: Path) -> list[ImportReport]:
    return [import_assets(engine, aliss_dir / name) for name in FILES]


def rows(engine: Engine, model: Any, *where: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(model.__table__).where(*where)).all())


# --- ALISS's lists and the crosswalk, as shipped ---------------------------------------------


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_shipped_lists_are_alisss_own(aliss_dir: Path) -> None:
    lists = taxonomy.aliss_lists()
    categories = [(str(c.number), c.name, c.slug, c.parent or "") for c in lists.categories]
    theirs = [(r["id"], r["name"], r["slug"] or "community-policing-and-safety", r["parent_slug"])
              for r in _csv(aliss_dir / "aliss-categories.csv")]
    assert categories == theirs and len(categories) == 312
    features = [(f.name, f.slug) for f in lists.accessibility]
    theirs = [(r["name"], "telephone-service" if r["name"] == "Telephone Service" else r["slug"])
              for r in _csv(aliss_dir / "aliss-accessibility-features.csv")]
    assert features == theirs and len(features) == 17 and len({s for _, s in features}) == 17
    assert [(g.name, g.slug) for g in lists.groups] == [(r["name"], r["slug"])
                                                        for r in _csv(aliss_dir / "aliss-community-groups.csv")]


def test_the_crosswalk_names_every_category_and_only_assetmaps_needs() -> None:
    crosswalk = taxonomy.aliss_crosswalk()
    assert set(crosswalk) == {c.slug for c in taxonomy.aliss_lists().categories}
    slugs = {t.slug for t in taxonomy.load().terms}
    assert {target for targets in crosswalk.values() for target in targets} <= slugs


def test_the_telephone_is_told_from_the_app_though_alisss_table_gives_them_one_slug() -> None:
    assert taxonomy.aliss_feature("app-based-service", "Telephone Service").name == "Telephone Service"
    assert taxonomy.aliss_feature("app-based-service", "App Based Service").name == "App Based Service"
    assert taxonomy.aliss_feature("app-based-service").name == "App Based Service"
    assert taxonomy.aliss_feature("telephone-service").name == "Telephone Service"


def test_older_slugs_are_todays_category_with_the_same_words_and_nothing_is_guessed() -> None:
    assert taxonomy.aliss_category("food-nutrition", "Food & Nutrition").slug == "food-and-nutrition"
    assert taxonomy.aliss_category("parent-family-support").slug == "parent-and-family-support"
    assert taxonomy.aliss_category("health-social-care-services").slug == "health-and-social-care-services"
    assert taxonomy.aliss_category("physical-health", "Physical Health").slug == "physical-health-issues"
    assert taxonomy.aliss_category("mental-health-issues", "Mental Health Issues") is None
    assert taxonomy.aliss_category("underwater-basket-weaving", "Underwater Basket Weaving") is None


def test_the_crosswalk_is_the_one_rule_for_alisss_categories() -> None:
    vocabulary = taxonomy.load()
    assert set(needs_of_term(vocabulary, "aliss:foodbank", "Foodbank")) == {"food-bank", "food", "money"}
    assert set(needs_of_term(vocabulary, "aliss:food-nutrition", "Food & Nutrition")) == {"food"}
    assert {"counselling", "mental-health"} <= set(needs_of_term(vocabulary, "aliss:counselling", "Counselling"))
    # The crosswalk's [] wins over what the name alone would match ("active" is physical activity's).
    assert needs_of_term(vocabulary, "active", "Active") and not needs_of_term(vocabulary, "aliss:activity", "Active")
    # "Who it is for" says nothing of the needs met, though "Mental health" would match by name.
    assert not needs_of_term(vocabulary, "aliss-group:mental-health", "Mental health")
    # A category no list knows is matched by its name, as any other taxonomy's term.
    assert "money" in needs_of_term(vocabulary, "aliss:money-worries-2019", "Money worries")


# --- importing the real files ------------------------------------------------------------------


def test_every_service_imports_with_its_organisation_and_contact(engine: Engine, aliss_dir: Path) -> None:
    reports = import_all(engine, aliss_dir)
    assert [(r.read, r.loaded, sum(r.rejected.values())) for r in reports] == [(4, 4, 0), (1, 1, 0), (3, 3, 0)]
    services = {r.id: r for r in rows(engine, Service)}
    organisations = {r.id: r for r in rows(engine, Organization)}
    phones = {(r.service_id or r.organization_id): r.number for r in rows(engine, Phone)}
    expected = raw_services(aliss_dir)
    assert set(services) == {s["id"] for s, _ in expected}
    for service, organisation in expected:
        stored = services[service["id"]]
        assert stored.organization_id == organisation["id"]
        assert organisations[organisation["id"]].name == organisation["name"]
        assert (stored.name, stored.description, stored.url, stored.email, stored.status) == (
            service["name"], service["description"].strip(), service["url"] or None, service["email"] or None,
            "active")
        assert phones.get(service["id"]) == (service["phone"] or None)
        updated = service.get("last_updated")
        # Without a date of ALISS's own, ALISS listing it the day it was read is what verified means.
        assert stored.assured_date == (dt.date.fromisoformat(updated[:10]) if updated else dt.date.today())
    organisation = raw(aliss_dir, "v4.1-organisation.json")["data"]
    stored = organisations[organisation["id"]]
    assert (stored.description, stored.email, stored.website) == (
        organisation["description"], organisation["email"], None)
    assert phones[organisation["id"]] == organisation["phone"]


def test_locations_are_at_their_own_coordinates_with_their_address(engine: Engine, aliss_dir: Path) -> None:
    import_all(engine, aliss_dir)
    locations = {r.id: r for r in rows(engine, Location)}
    addresses = {r.location_id: r for r in rows(engine, Address)}
    links = {(r.service_id, r.location_id) for r in rows(engine, ServiceAtLocation)}
    food_parcels = locations["c8b7db71-f879-47f9-b4e0-ce593d839628"]
    assert (food_parcels.latitude, food_parcels.longitude) == (55.8652885, -4.2672764)
    for service, _ in raw_services(aliss_dir):
        for given in service.get("locations", []):
            stored = locations[given["id"]]
            assert (stored.name, stored.latitude, stored.longitude, stored.location_type) == (
                given["name"], given["latitude"], given["longitude"], "physical")
            address = addresses[given["id"]]
            assert (address.address_1, address.city, address.postal_code, address.country) == (
                given["street_address"], given["locality"], given["postal_code"], given["country"])
            assert (service["id"], given["id"]) in links
    with engine.connect() as conn:
        venues = directory.venues(conn, directory.Filter())
    placed = {(v.service_id, v.location_id): (v.latitude, v.longitude) for v in venues}
    assert placed[("3da126c1-44b4-4095-a1d1-db21787d0b6a", food_parcels.id)] == (55.8652885, -4.2672764)


def test_categories_meet_assetmaps_needs_the_same_for_every_reader(engine: Engine, aliss_dir: Path) -> None:
    import_all(engine, aliss_dir)
    vocabulary = taxonomy.load()
    with engine.connect() as conn:
        met = directory.needs_met(conn, vocabulary)
        offer = supply(conn, vocabulary)
    food_parcels, counselling, bluebell = ("3da126c1-44b4-4095-a1d1-db21787d0b6a",
                                           "fed34ae8-cf8b-4d6d-9250-6a7d56809d8d",
                                           "1615ffd3-2fa4-4b5f-90bc-3586cb99a552")
    assert {"food", "food-bank", "money"} <= set(met[food_parcels])
    assert {"mental-health", "counselling"} <= set(met[counselling])
    assert "mental-health" in met[bluebell]
    assert "loneliness" in met["4b5eaf69-b5dc-4aea-9970-42fa3b590b91"]  # social group, lunch club
    index = Searcher(engine).index()
    frame = services_frame(engine)
    for service_id in {s["id"] for s, _ in raw_services(aliss_dir)}:
        want = set(met.get(service_id, {}))
        by_index = set(index.covers[index.position[service_id]])
        by_frame = set(frame.loc[frame["service_id"] == service_id, "needs"].iloc[0])
        assert by_index == by_frame == want, service_id
        if service_id in offer.ids:
            assert offer.covers[offer.ids.index(service_id)] == want
    for slug in ("food", "mental-health", "loneliness", "food-bank"):
        page = listing.services(engine, {"taxonomy_term_id": [slug], "per_page": ["100"]})
        assert {s["id"] for s in page["contents"]} == {i for i, m in met.items() if slug in m}, slug


def test_alisss_tree_is_a_taxonomy_with_older_slugs_kept_under_todays(engine: Engine, aliss_dir: Path) -> None:
    import_all(engine, aliss_dir)
    terms = {r.code: r for r in rows(engine, TaxonomyTerm, TaxonomyTerm.taxonomy == taxonomy.ALISS_TAXONOMY)}
    assert len([c for c in terms if c.removeprefix("aliss:") in taxonomy.aliss_lists().by_slug]) == 312
    assert terms["aliss:foodbank"].parent_id == terms["aliss:food-and-nutrition"].id
    assert terms["aliss:food-nutrition"].parent_id == terms["aliss:food-and-nutrition"].id
    assert terms["aliss:food-nutrition"].name == "Food & Nutrition"
    labels = {(r.link_id, r.label) for r in rows(engine, Attribute, Attribute.link_type == "category")}
    assert ("3da126c1-44b4-4095-a1d1-db21787d0b6a", "Foodbank") in labels


def test_service_areas_are_rows_with_their_type_and_statistical_uri(engine: Engine, aliss_dir: Path) -> None:
    import_all(engine, aliss_dir)
    areas = {(r.service_id, r.name, r.description, r.uri) for r in rows(engine, ServiceArea)}
    assert areas == {
        ("fed34ae8-cf8b-4d6d-9250-6a7d56809d8d", "Glasgow City", "Local Authority",
         "http://statistics.data.gov.uk/id/statistical-geography/S12000046"),
        ("9fd62ed3-b6a3-46dd-8712-8727f7ff9012", "Scottish Borders", "Health and Social Care Partnership",
         "http://statistics.data.gov.uk/id/statistical-geography/S37000025"),
    }


def test_empty_strings_are_absent_values(engine: Engine, aliss_dir: Path) -> None:
    import_all(engine, aliss_dir)
    with engine.connect() as conn:
        for table in ORDER:
            for column in TABLES[table].columns:
                if isinstance(column.type, (String, Text)):
                    blank = conn.execute(select(column).where(column == "").limit(1)).first()
                    assert blank is None, f"{table}.{column.name} holds an empty string"
    soup = rows(engine, Service, Service.id == "4b5eaf69-b5dc-4aea-9970-42fa3b590b91")[0]
    assert soup.url is None
    assert rows(engine, Address, Address.location_id == "8ff3c1ea-ee06-4c2a-a7f1-a8b8bf9169b5")[0].region is None


def test_importing_the_same_files_twice_changes_nothing(engine: Engine, aliss_dir: Path) -> None:
    import_all(engine, aliss_dir)
    before = fingerprint(engine, DIRECTORY)
    import_all(engine, aliss_dir)
    assert fingerprint(engine, DIRECTORY) == before


def test_attribution_and_origins_are_filled(aliss_dir: Path) -> None:
    records = aliss.read(aliss_dir / FILES[0], ImportReport(source="page", what="services"))
    source = records.provenance.source
    assert source is not None
    assert (source.key, source.label, source.kind, source.url) == ("aliss", "ALISS", "aliss", "https://www.aliss.org")
    assert source.licence == "https://creativecommons.org/licenses/by/4.0/"
    meta = raw(aliss_dir, FILES[0])["meta"]
    assert source.attribution == ("Contains data from ALISS (www.aliss.org), CC BY 4.0",
                                  *(a["text"] for a in meta["attribution"]))
    assert source.complete is False  # one page of a postcode search, with a next page
    origins = records.provenance.origins
    assert origins[("service", "3da126c1-44b4-4095-a1d1-db21787d0b6a")].source_updated == dt.date(2018, 9, 17)
    assert origins[("service", "1615ffd3-2fa4-4b5f-90bc-3586cb99a552")].source_updated == dt.date(2018, 10, 25)
    assert origins[("location", "619d32db-e780-44ab-8ed2-5180c56fc1c3")].source_updated == dt.date(2018, 10, 25)
    assert origins[("organization", "abd47d4d-1ece-4c38-981e-4ccba17013cf")].source_record_id == (
        "abd47d4d-1ece-4c38-981e-4ccba17013cf")
    organisation = aliss.read(aliss_dir / FILES[2], ImportReport(source="organisation", what="services"))
    assert organisation.provenance.origins[("organization", "24e42647-da5f-46ec-b0c6-458465d2467d")] \
        .source_updated == dt.date(2018, 11, 23)
    assert organisation.provenance.source is not None and organisation.provenance.source.complete is False


def test_the_categories_and_service_areas_answers_are_refused_saying_what_they_are(
        engine: Engine, aliss_dir: Path) -> None:
    with pytest.raises(ImportFileError, match="is ALISS's category list .* not services"):
        import_assets(engine, aliss_dir / "v4.1-categories.json")
    with pytest.raises(ImportFileError, match="is ALISS's list of service areas .* not services"):
        import_assets(engine, aliss_dir / "v4.1-service-areas.json")


def _edited(aliss_dir: Path, tmp_path: Path, change: Any, name: str = FILES[0]) -> Path:
    data = raw(aliss_dir, name)
    change(data)
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_unmapped_slugs_are_listed_in_the_report_and_kept(engine: Engine, aliss_dir: Path, tmp_path: Path) -> None:
    def unknown(data: dict[str, Any]) -> None:
        data["data"][0]["categories"].append({"name": "Underwater Basket Weaving", "slug": "underwater-basket-weaving"})

    report = import_assets(engine, _edited(aliss_dir, tmp_path, unknown))
    notes = "\n".join(report.notes)
    assert "unmapped ALISS categories" in notes and "underwater-basket-weaving" in notes
    assert "older ALISS category slugs read as today's: food-nutrition -> food-and-nutrition" in notes
    kept = rows(engine, TaxonomyTerm, TaxonomyTerm.code == "aliss:underwater-basket-weaving")
    assert kept and kept[0].parent_id is None


def test_a_bad_field_loses_that_field_not_its_record(engine: Engine, aliss_dir: Path, tmp_path: Path) -> None:
    def broken(data: dict[str, Any]) -> None:
        data["data"][0]["email"] = "not an email"
        data["data"][1]["url"] = "javascript:alert(1)"
        for service in data["data"][2:]:  # both services at the Tom Allan Centre
            service["locations"][0]["latitude"] = 555.0
        data["data"][3]["url"] = "www.crossreach.org.uk"

    report = import_assets(engine, _edited(aliss_dir, tmp_path, broken))
    assert report.loaded == 4
    services = {r.name: r for r in rows(engine, Service)}
    assert services["Food Parcels"].email is None and services["Food Parcels"].url
    assert services["Providing Meals"].url is None
    assert services["Bluebell-PND- Counselling Service"].url == "http://www.crossreach.org.uk"
    tom_allan = rows(engine, Location, Location.id == "619d32db-e780-44ab-8ed2-5180c56fc1c3")[0]
    assert tom_allan.latitude is None and tom_allan.longitude is None
    notes = "\n".join(report.notes)
    assert "email 'not an email' is not an email address; left out" in notes
    assert "latitude '555' is outside -90 to 90; left out" in notes


def test_alisss_2024_accessibility_and_who_it_is_for(engine: Engine, aliss_dir: Path, tmp_path: Path) -> None:
    """The 2024 API adds accessibility_features and community_groups to a service (ALISS's
    ServiceModel); the real v4.1 file with them added as that API writes them."""
    def with_2024_fields(data: dict[str, Any]) -> None:
        location = data["data"]["locations"][0]["id"]
        data["data"]["accessibility_features"] = [
            {"name": "Hearing loop", "slug": "hearing-loop", "additional_info": "in the lounge",
             "icon": "", "location_id": location},
            {"name": "Telephone Service", "slug": "app-based-service", "additional_info": "", "icon": "",
             "location_id": None}]
        data["data"]["community_groups"] = [
            {"name": "Older Adults", "slug": "older-adults", "is_range": True, "min": 60, "max": 120,
             "selected": True}]

    import_assets(engine, _edited(aliss_dir, tmp_path, with_2024_fields, FILES[1]))
    access = {(r.description, r.details) for r in rows(engine, Accessibility)}
    assert access == {("Hearing loop", "in the lounge"), ("Telephone Service", None)}
    groups = rows(engine, Attribute, Attribute.link_type == "who_it_is_for")
    assert [(g.label, g.value, g.taxonomy_term_id) for g in groups] == [
        ("Older Adults", "60-120", taxonomy.aliss_group_id("older-adults"))]
    with engine.connect() as conn:
        found = directory.find_services(conn, directory.Filter(accessibility=("hearing loop",)))
    assert found.ids == ["4b5eaf69-b5dc-4aea-9970-42fa3b590b91"]


# --- folders and addresses: following next, refusing postcodes ------------------------------------


def two_pages(aliss_dir: Path, base: str, count: int = 5) -> dict[str, dict[str, Any]]:
    """The real search page and the real soup social as a second page of one export at ``base``."""
    first, one = raw(aliss_dir, FILES[0]), raw(aliss_dir, FILES[1])
    first |= {"count": count, "next": f"{base}/api/v4/import/?page=2", "previous": None}
    second = {"meta": one["meta"], "count": count, "next": None, "previous": f"{base}/api/v4/import/",
              "data": [one["data"]]}
    return {"/api/v4/import/": first, "/api/v4/import/?page=2": second}


class Served:
    """A real HTTP server in a thread: path -> JSON, a status, or a delay; it keeps what was asked."""

    def __init__(self) -> None:
        self.answers: dict[str, Any] = {}
        self.asked: list[str] = []
        served = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                served.asked.append(self.path)
                answer = served.answers.get(self.path, 404)
                if isinstance(answer, float):
                    time.sleep(answer)
                    answer = {"meta": {}, "data": []}
                if isinstance(answer, int):
                    self.send_error(answer)
                    return
                body = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def served() -> Iterator[Served]:
    server = Served()
    yield server
    server.close()


def test_next_pages_are_followed_and_the_whole_export_is_complete(engine: Engine, aliss_dir: Path,
                                                                  served: Served) -> None:
    served.answers = two_pages(aliss_dir, served.base)
    records = aliss.read(f"{served.base}/api/v4/import/", ImportReport(source="aliss", what="services"))
    assert served.asked == ["/api/v4/import/", "/api/v4/import/?page=2"]
    assert len(records.rows["service"]) == 5
    assert records.provenance.source is not None and records.provenance.source.complete is True
    served.asked.clear()
    report = import_assets(engine, Path(f"{served.base}/api/v4/import/"))  # as the command line passes it
    assert served.asked == ["/api/v4/import/", "/api/v4/import/?page=2"]
    assert report.loaded == 5 and "2 pages; the whole export" in report.notes[0]


def test_a_chain_that_falls_short_of_its_count_is_not_complete(aliss_dir: Path, served: Served) -> None:
    served.answers = two_pages(aliss_dir, served.base, count=534)
    records = aliss.read(f"{served.base}/api/v4/import/", ImportReport(source="aliss", what="services"))
    assert records.provenance.source is not None and records.provenance.source.complete is False


def test_a_folder_of_saved_pages(engine: Engine, aliss_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "aliss-export"
    folder.mkdir()
    pages = two_pages(aliss_dir, "https://www.aliss.org")
    for number, page in enumerate(pages.values(), start=1):
        (folder / f"page-{number}.json").write_text(json.dumps(page), encoding="utf-8")
    report = import_assets(engine, folder)
    assert report.loaded == 5 and "2 pages; the whole export" in report.notes[0]
    (folder / "page-2.json").unlink()  # one page with a next: not the whole export
    records = aliss.read(folder, ImportReport(source="aliss", what="services"))
    assert records.provenance.source is not None and records.provenance.source.complete is False


def test_a_postcode_search_is_refused_before_anything_is_sent(engine: Engine, served: Served) -> None:
    for address in (f"{served.base}/api/v4/services/?postcode=G2+4AA", f"{served.base}/api/v4/services/?q=lonely",
                    f"{served.base}/api/v4/services/?page=2&location=Govan"):
        with pytest.raises(ImportFileError, match="assetmap never sends a postcode or search words to ALISS") as no:
            import_assets(engine, Path(address))
        assert not {"G2", "lonely", "Govan"} & set(re.split(r"\W+", str(no.value)))  # not even said back
    assert served.asked == []


def test_a_next_page_that_would_send_a_postcode_is_refused(aliss_dir: Path, served: Served) -> None:
    page = raw(aliss_dir, FILES[0])
    page["next"] = f"{served.base}/api/v4/services/?page=2&postcode=G2+4AA"
    served.answers = {"/api/v4/import/": page}
    with pytest.raises(ImportFileError, match="searches ALISS by postcode="):
        aliss.fetch(f"{served.base}/api/v4/import/")
    assert served.asked == ["/api/v4/import/"]


def test_offline_http_errors_and_a_slow_server_are_one_line(db_url: str, served: Served) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]  # nothing listens here once the probe is closed
    served.answers = {"/api/v4/slow/": 2.0}
    for address, said in ((f"http://127.0.0.1:{closed}/api/v4/import/", "cannot reach 127.0.0.1"),
                          (f"{served.base}/api/v4/nothing/", "answered 404")):
        result = run_assetmap("--database-url", db_url, "import", "assets", address)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and said in result.stderr, result.stderr
    with pytest.raises(ImportFileError, match="did not answer within 0.5 s"):
        aliss.fetch(f"{served.base}/api/v4/slow/", timeout=0.5)


# --- the vocabularies in the editor and the search ---------------------------------------------


def _form_data(values: dict[str, Any], version: str, **changes: Any) -> dict[str, Any]:
    """What the edit form posts back: every field as the page shows it, with ``changes``."""
    data: dict[str, Any] = {"csrf_token": "token", "version": version}
    for key in editing.FIELDS:
        value = changes.get(key, values.get(key))
        data[key] = value if isinstance(value, list) else ("" if value is None else str(value))
    return data


def test_the_editor_ticks_alisss_accessibility_and_who_it_is_for_and_keeps_alisss_categories(
        db_url: str, aliss_dir: Path, tmp_path: Path) -> None:
    engine = connect(db_url)
    try:
        def with_2024_fields(data: dict[str, Any]) -> None:
            data["data"]["accessibility_features"] = [
                {"name": "Hearing loop", "slug": "hearing-loop", "additional_info": "in the lounge",
                 "location_id": data["data"]["locations"][0]["id"]}]
            data["data"]["community_groups"] = [{"name": "Older Adults", "slug": "older-adults"}]

        import_assets(engine, _edited(aliss_dir, tmp_path, with_2024_fields, FILES[1]))
        create_user(engine, "editor@example.org", "Editor", PASSWORD, "editor")
        soup = "4b5eaf69-b5dc-4aea-9970-42fa3b590b91"
        editor = signed_in(db_url, "editor@example.org")
        page = editor.get(f"/services/{soup}/edit").get_data(as_text=True)
        assert re.search(r'value="hearing-loop" checked>\s*Hearing loop', page)
        assert re.search(r'value="older-adults" checked>\s*Older Adults', page)
        assert 'value="accessible-toilet" >' in page and 'value="unpaid-carers" >' in page
        assert "Also filed by its source under: Lunch Club, Social Group" in page
        assert "Telephone Service" not in page  # how a service is given, not a venue's: not offered here
        with engine.connect() as conn:
            form = editing.service_form(conn, soup)
        assert form is not None
        saved = editor.post(f"/services/{soup}/edit", data=_form_data(
            form.values, form.version, access=["hearing-loop", "accessible-toilet"], who=["older-adults", "unpaid-carers"]))
        assert saved.status_code == 302, saved.get_data(as_text=True)
        access = {(r.description, r.details) for r in rows(engine, Accessibility)}
        assert access == {("Hearing loop", "in the lounge"), ("Accessible toilet", None)}
        groups = {r.label for r in rows(engine, Attribute, Attribute.link_type == "who_it_is_for")}
        assert groups == {"Older Adults", "Unpaid Carers"}
        categories = {r.label for r in rows(engine, Attribute, Attribute.link_type == "category")}
        assert categories == {"Social Group", "Lunch Club"}  # the editor's save keeps ALISS's tagging
        with engine.connect() as conn:
            met = directory.needs_met(conn, taxonomy.load())
            found = directory.find_services(conn, directory.Filter(accessibility=("accessible toilet",)))
        assert "loneliness" in met[soup] and found.ids == [soup]
        changed = {r.field for r in rows(engine, AuditEntry, AuditEntry.record_id == soup)}
        assert {"access", "who"} <= changed
    finally:
        engine.dispose()


def test_an_unknown_feature_or_group_is_a_problem_with_the_field(db_url: str) -> None:
    engine = connect(db_url)
    try:
        base = {"name": "Lunch club", "status": "active", "latitude": "55.85", "longitude": "-4.2"}
        with pytest.raises(editing.EditError) as refused:
            editing.save_service(engine, base | {"access": ["moat"], "who": ["martians"]}, "editor@example.org")
        assert set(refused.value.problems) == {"access", "who"}
        with pytest.raises(editing.EditError) as unplaced:
            editing.save_service(engine, {"name": "Helpline", "status": "active", "access": ["hearing-loop"]},
                                 "editor@example.org")
        assert "venue" in unplaced.value.problems["access"]
        # In a directory that never imported ALISS, the groups are installed with the first one ticked.
        saved = editing.save_service(engine, base | {"who": ["unpaid-carers"]}, "editor@example.org")
        assert {r.label for r in rows(engine, Attribute, Attribute.link_id == saved)} == {"Unpaid Carers"}
    finally:
        engine.dispose()


def test_the_search_offers_alisss_venue_features_and_still_takes_wheelchair() -> None:
    assert directory.ACCESSIBILITY[:2] == ("wheelchair", "hearing loop")
    assert {f.name.lower() for f in taxonomy.aliss_venue_features()} <= set(directory.ACCESSIBILITY)
    assert "hearing loop" in directory.ACCESSIBILITY and "online service" not in directory.ACCESSIBILITY
    assert check_accessibility(("Wheelchair", "Accessible toilet")) == ("wheelchair", "accessible toilet")
    shown = run_assetmap("search", "--help")
    assert "accessible car park" in " ".join(shown.stdout.split()), shown.stdout


def test_a_mistake_in_an_edited_crosswalk_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mine = tmp_path / "crosswalk.toml"
    for text, said in (('[categories]\nfoodbank = "food-bank"\n', 'foodbank should be a list of slugs in quotes'),
                       ('[categories]\nfoodbank = ["food-bank"\n', "is not valid TOML"),
                       ('foodbank = ["food-bank"]\n', "has no [categories] table")):
        mine.write_text(text)
        taxonomy._crosswalk.cache_clear()
        monkeypatch.setenv("ASSETMAP_ALISS_CROSSWALK", str(mine))
        with pytest.raises(ConfigError, match=re.escape(said)):
            taxonomy.aliss_crosswalk()
    mine.write_text('[categories]\nfoodbank = ["befriending"]\n')  # a locality's own reading of it
    taxonomy._crosswalk.cache_clear()
    assert taxonomy.aliss_needs("aliss:foodbank", "Foodbank") == ("befriending",)
    monkeypatch.delenv("ASSETMAP_ALISS_CROSSWALK")
    assert taxonomy.aliss_needs("aliss:foodbank", "Foodbank") == ("food-bank",)


def test_a_real_aliss_service_with_only_a_service_area_is_found_inside_it_and_not_outside(
        engine: Engine, aliss_dir: Path, opendata: Path) -> None:
    from assetmap.io.areas import import_areas
    from assetmap.io.postcodes import import_postcodes
    from assetmap.search import Query

    for area in ("td", "g"):
        import_postcodes(engine, opendata / f"codepoint-open-2020-08/csv/{area}.csv")
    import_areas(engine, opendata / "council-areas-2018/council_areas.geojson")
    import_all(engine, aliss_dir)
    searcher = Searcher(engine)
    link_worker = "Community Capacity Building Link Worker Service"  # no venue; ALISS: S37000025, type '4'

    borders = searcher.search(Query(postcode="TD12 4JN", needs=("physical-health",)))
    glasgow = searcher.search(Query(postcode="G2 4AA", needs=("physical-health",)))

    found = {r.name: r for r in borders.area_wide}
    assert link_worker in found
    assert "Scottish Borders" in " ".join(found[link_worker].why + [found[link_worker].delivered_across or ""])
    assert link_worker not in [r.name for r in glasgow.results + glasgow.area_wide + glasgow.remote + glasgow.beyond]
    # The counselling service ALISS lists across Glasgow City under its 2018 code, S12000046.
    counselling = searcher.search(Query(postcode="G32 8AQ", needs=("mental-health",), max_metres=1000))
    assert "One-to-one counselling" in [r.name for r in counselling.area_wide]
