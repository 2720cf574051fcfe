"""A fictional directory for trying assetmap: every record is labelled as made up.

Services sit at plausible places around a dozen Glasgow neighbourhoods and cover
every need and activity type of the taxonomy. Phone numbers are in Ofcom's range
reserved for drama (0141 496 0xxx), email addresses use example.org, and every
organisation name starts with "Demo:". The same seed gives the same directory, so
loading it twice changes nothing.
"""

from __future__ import annotations

import datetime as dt
import random

from sqlalchemy import Engine, delete, select

from assetmap import changes, taxonomy
from assetmap.db import writing
from assetmap.io.oruk import ORDER, TABLES, Records, check_and_write
from assetmap.models import Service, ServiceAtLocation
from assetmap.taxonomy import stable_id

# Approximate centres of Glasgow neighbourhoods (longitude, latitude).
NEIGHBOURHOODS = {
    "Parkhead": (-4.1995, 55.8527), "Shettleston": (-4.1610, 55.8520), "Dennistoun": (-4.2080, 55.8610),
    "Govanhill": (-4.2600, 55.8370), "Govan": (-4.3120, 55.8620), "Drumchapel": (-4.3700, 55.9070),
    "Easterhouse": (-4.1100, 55.8700), "Castlemilk": (-4.2250, 55.8080), "Springburn": (-4.2330, 55.8830),
    "Pollok": (-4.3400, 55.8280), "Maryhill": (-4.2850, 55.8900), "Calton": (-4.2360, 55.8530),
}
DEMO_PRACTICE = ("Parkhead Health Centre (demo)", -4.1990, 55.8522)
DAYS = ["MO", "TU", "WE", "TH", "FR", "SA"]


def records(seed: int = 2026) -> Records:
    rng = random.Random(seed)
    vocabulary = taxonomy.load()
    today = dt.date.today()
    found = Records()
    rows = found.rows
    places = list(NEIGHBOURHOODS.items())
    number = 0
    for activity in vocabulary.activities:
        for copy in range(rng.choice([2, 3, 3])):
            number += 1
            area, (lon, lat) = places[(number * 5 + copy) % len(places)]
            key = f"{activity.slug}-{copy}"
            org_id = stable_id("demo-org", area)
            rows["organization"][org_id] = {"id": org_id, "name": f"Demo: {area} Community Trust",
                                            "description": "A fictional organisation, for trying assetmap.",
                                            "email": f"{area.lower()}@example.org"}
            service_id = stable_id("demo-service", key)
            stale = rng.random() < 0.15
            rows["service"][service_id] = {
                "id": service_id, "organization_id": org_id, "name": f"{area} {activity.label} (demo)",
                "description": f"Fictional example for trying assetmap. {activity.description}",
                "status": "active" if rng.random() > 0.05 else "temporarily closed",
                "assured_date": today - dt.timedelta(days=rng.randint(400, 800) if stale else rng.randint(1, 300)),
                "email": f"{activity.slug}@example.org", "url": f"https://example.org/{activity.slug}",
            }
            location_id = stable_id("demo-location", key)
            rows["location"][location_id] = {
                "id": location_id, "location_type": "physical", "name": f"{area} Demo Hall",
                "latitude": round(lat + rng.uniform(-0.006, 0.006), 6),
                "longitude": round(lon + rng.uniform(-0.01, 0.01), 6),
                "description": "A made-up venue.",
            }
            rows["address"][stable_id("demo-address", key)] = {
                "id": stable_id("demo-address", key), "location_id": location_id,
                "address_1": f"{rng.randint(1, 120)} Example Street", "city": "Glasgow", "country": "GB",
                "address_type": "physical"}
            if rng.random() < 0.5:
                rows["accessibility"][stable_id("demo-access", key)] = {
                    "id": stable_id("demo-access", key), "location_id": location_id,
                    "description": "Wheelchair access and a hearing loop"}
            rows["service_at_location"][stable_id("demo-sal", key)] = {
                "id": stable_id("demo-sal", key), "service_id": service_id, "location_id": location_id}
            opens = rng.choice(["10:00", "10:30", "13:00", "14:00", "18:00"])
            days = sorted(rng.sample(DAYS, rng.choice([1, 1, 2])), key=DAYS.index)
            rows["schedule"][stable_id("demo-schedule", key)] = {
                "id": stable_id("demo-schedule", key), "service_id": service_id, "freq": "WEEKLY",
                "byday": ",".join(days), "opens_at": opens, "closes_at": f"{int(opens[:2]) + 2:02d}:{opens[3:]}",
                "description": f"Every {', '.join(_DAY_NAMES[d] for d in days)}, {opens} for two hours",
                "attending_type": "in_person"}
            free = rng.random() < 0.8
            rows["cost_option"][stable_id("demo-cost", key)] = {
                "id": stable_id("demo-cost", key), "service_id": service_id,
                "amount": 0.0 if free else float(rng.choice([1, 2, 3])), "currency": "GBP",
                "option": "Free" if free else "Per session"}
            rows["phone"][stable_id("demo-phone", key)] = {
                "id": stable_id("demo-phone", key), "service_id": service_id,
                "number": f"0141 496 0{number:03d}"}
            rows["attribute"][stable_id("demo-attr", key)] = {
                "id": stable_id("demo-attr", key), "link_id": service_id, "link_entity": "service",
                "link_type": "activity", "taxonomy_term_id": activity.id}
    for slug, attending, label in (("befriending", "phone", "Telephone Befriending Line (demo)"),
                                   ("peer-support", "online", "Online Wellbeing Circle (demo)"),
                                   ("debt-advice", "phone", "Money Helpline (demo)")):
        key = f"remote-{slug}"
        service_id = stable_id("demo-service", key)
        org_id = stable_id("demo-org", "Scotland")
        rows["organization"][org_id] = {"id": org_id, "name": "Demo: Scotland-wide Helplines",
                                        "description": "A fictional organisation, for trying assetmap."}
        rows["service"][service_id] = {"id": service_id, "organization_id": org_id, "name": label,
                                       "description": "Fictional example: available anywhere, "
                                                      f"{'by phone' if attending == 'phone' else 'online'}.",
                                       "status": "active", "assured_date": today - dt.timedelta(days=20)}
        rows["schedule"][stable_id("demo-schedule", key)] = {
            "id": stable_id("demo-schedule", key), "service_id": service_id, "freq": "WEEKLY",
            "byday": "MO,TU,WE,TH,FR", "opens_at": "09:00", "closes_at": "17:00", "attending_type": attending}
        rows["phone"][stable_id("demo-phone", key)] = {"id": stable_id("demo-phone", key),
                                                       "service_id": service_id, "number": "0141 496 0999"}
        term = vocabulary.term(slug)
        assert term is not None
        rows["attribute"][stable_id("demo-attr", key)] = {
            "id": stable_id("demo-attr", key), "link_id": service_id, "link_entity": "service",
            "link_type": "activity", "taxonomy_term_id": term.id}
    return found


_DAY_NAMES = {"MO": "Monday", "TU": "Tuesday", "WE": "Wednesday", "TH": "Thursday", "FR": "Friday",
              "SA": "Saturday", "SU": "Sunday"}


def remove_demo(engine: Engine) -> int:
    """Take the fictional directory out (once real data is loaded), and nothing else.

    The demo's records are known by id (the same seed makes the same ids), so records
    from any other source, even one an editor made beside a demo record, stay.
    """
    found = records()
    services = list(found.rows["service"])
    with writing(engine) as conn:
        present = set(conn.execute(select(Service.id).where(Service.id.in_(services))).scalars())
        # Venues an editor added to a demo service go with it.
        venues = set(conn.execute(select(ServiceAtLocation.location_id).where(
            ServiceAtLocation.service_id.in_(services))).scalars())
        found.rows["location"].update({i: {} for i in venues})
        for table in reversed(ORDER):  # children before the records they belong to
            ids = sorted(found.rows.get(table, {}))
            if not ids:
                continue
            key = TABLES[table].c.id
            for start in range(0, len(ids), 500):
                conn.execute(delete(TABLES[table]).where(key.in_(ids[start:start + 500])))
        changes.bump(conn, changes.DIRECTORY)
    return len(present)


def load_demo(engine: Engine) -> int:
    """Write the fictional directory; returns how many services it has."""
    found = records()
    with writing(engine) as conn:
        check_and_write(conn, found, "demo directory")
    return len(found.rows["service"])
