"""A directory whose every text field holds markup and script, as a careless or hostile file
from another organisation might: the pages must show all of it as text and run none of it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, update

from assetmap.io.oruk import page
from assetmap.models import Organization, Service
from assetmap.taxonomy import load

NEED = "digital-inclusion"  # a need the other browser tests do not search for
LATITUDE, LONGITUDE = 55.8530, -4.2000  # Parkhead, Glasgow
SERVICE_ID = 'hostile"><img src=x onerror="window.pwned=6">'  # ids are text in ORUK too
# A link a browser must never follow from our pages: each runs script or shows a page of the attacker's.
BAD_URLS = {"data": "data:text/html,<script>window.pwned=4</script>", "vbscript": "vbscript:msgbox(1)",
            "spaced": " \tJaVaScRiPt:window.pwned=5"}
GOOD_URL = 'https://example.org/club?day=mon&time="10"'


def hostile(field: str) -> str:
    """Markup that would show, or run, if a page put ``field`` in as HTML. It first closes
    whatever the value may sit in (a script, a textarea, the title, a quoted attribute)."""
    return (f'</script></textarea></title>"\'><b class="x-{field}">{field}</b>'
            f'<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>')


JAVASCRIPT_URL = "javascript:window.pwned=3//" + hostile("url")


def services() -> list[dict[str, Any]]:
    """One service with markup in every text field, and one per bad link (and one good link)."""
    need = load().term(NEED)
    assert need is not None

    def attribute(key: str) -> list[dict[str, Any]]:
        return [{"id": f"hostile-attribute-{key}", "taxonomy_term_id": need.id, "link_type": need.kind}]

    def location(key: str, east: float = 0.0, **fields: Any) -> list[dict[str, Any]]:
        return [{"id": f"hostile-sal-{key}", "location": {
            "id": f"hostile-location-{key}", "location_type": "physical", "name": f"Venue {key}",
            "latitude": LATITUDE, "longitude": LONGITUDE + east, **fields}}]

    main = {
        "id": SERVICE_ID, "name": hostile("name"), "description": hostile("description"), "status": "active",
        "assured_date": "2024-03-01",  # checked long ago: in the review queue
        "url": JAVASCRIPT_URL, "email": hostile("email"), "accreditations": hostile("accreditations"),
        "alert": hostile("alert"), "eligibility_description": hostile("eligibility"),
        "organization": {"id": "hostile-organisation", "name": hostile("organisation"),
                         "description": hostile("organisation_description"), "website": JAVASCRIPT_URL},
        "service_at_locations": location(
            "main", name=hostile("location"), description=hostile("location_description"),
            addresses=[{"id": "hostile-address", "address_1": hostile("address_1"),
                        "address_2": hostile("address_2"), "city": hostile("city"), "region": hostile("region"),
                        "state_province": hostile("state_province"), "postal_code": hostile("postal_code"),
                        "country": "GB", "address_type": "physical"}],
            accessibility=[{"id": "hostile-accessibility", "description": hostile("accessibility"),
                            "details": hostile("accessibility_details")}]),
        "phones": [{"id": "hostile-phone", "number": hostile("phone")}],
        "contacts": [{"id": "hostile-contact", "name": hostile("contact"),
                      "phones": [{"id": "hostile-contact-phone", "number": hostile("contact_phone")}]}],
        "schedules": [{"id": "hostile-schedule", "description": hostile("schedule"), "freq": "WEEKLY",
                       "byday": "MO,TU,WE,TH,FR,SA,SU", "opens_at": "09:00", "closes_at": "17:00",
                       "attending_type": "in_person"}],
        "cost_options": [{"id": "hostile-cost", "option": hostile("cost_option"), "amount": 2,
                          "amount_description": hostile("cost_description")}],
        "languages": [{"id": "hostile-language", "name": hostile("language")}],
        "attributes": attribute("main"),
    }
    linked = [{"id": f"hostile-link-{kind}", "name": f"Link test {kind}", "status": "active", "url": url,
               "fees_description": hostile(f"fees_{kind}"), "attributes": attribute(kind),
               "service_at_locations": location(kind, east=0.002 * n)}
              for n, (kind, url) in enumerate({**BAD_URLS, "good": GOOD_URL}.items(), start=1)]
    return [main, *linked]


def plant(engine: Engine) -> None:
    """Write the links and email that imports now leave out (assetmap.fields) straight into the
    database, as an older version or a hand edit may have left them: the pages must still show
    them as text and never link them."""
    main, *linked = services()
    with engine.begin() as conn:
        conn.execute(update(Service).where(Service.id == main["id"]).values(url=main["url"], email=main["email"]))
        organisation = main["organization"]
        conn.execute(update(Organization).where(Organization.id == organisation["id"]).values(
            website=organisation["website"]))
        for record in linked:
            conn.execute(update(Service).where(Service.id == record["id"]).values(url=record["url"]))


def write(path: Path) -> Path:
    """The hostile services as one ORUK JSON page, as `assetmap import assets` reads it."""
    path.write_text(json.dumps(page(services())))
    return path
