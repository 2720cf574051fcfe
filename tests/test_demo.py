"""The demo directory comes out again once real data is in, and takes nothing else with it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, func, select

from assetmap.demo import load_demo
from assetmap.editing import save_service, service_form
from assetmap.io.assets import import_assets
from assetmap.models import Location, Organization, Service
from tests.cli import run_assetmap


def count(engine: Engine, model: type) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model)).scalar_one())


def test_demo_remove_takes_out_the_demo_and_leaves_the_food_banks_and_an_editors_record(
        db_url: str, engine: Engine, opendata: Path) -> None:
    import_assets(engine, opendata / "givefood/foodbanks_scotland_subset.csv")
    real = {m: count(engine, m) for m in (Service, Location, Organization)}
    demo = load_demo(engine)
    mine = save_service(engine, {"name": "Tollcross walking group", "status": "active", "postcode": "",
                                 "latitude": "55.85", "longitude": "-4.19"}, "editor@example.org")
    with engine.connect() as conn:
        a_demo_service = conn.execute(select(Service.id).where(Service.name.like("%(demo)%"))).scalars().first()
        form = service_form(conn, a_demo_service)
    assert form is not None  # an editor gave a demo service a venue of its own
    save_service(engine, {**form.values, "latitude": "55.86", "longitude": "-4.2", "location_name": "Hall"},
                 "editor@example.org", a_demo_service, form.version)

    done = run_assetmap("--database-url", db_url, "demo", "--remove")

    assert done.returncode == 0, done.stderr
    assert f"removed the fictional demo directory: {demo} services" in done.stdout
    with engine.connect() as conn:
        names = list(conn.execute(select(Service.name)).scalars())
        orphans = conn.execute(select(func.count()).select_from(Location).where(
            ~Location.id.in_(select(Location.id).join_from(Location, Location.service_at_locations)))).scalar_one()
    assert not any("(demo)" in n or n.startswith("Demo:") for n in names)
    assert len(names) == real[Service] + 1 and mine
    assert count(engine, Organization) == real[Organization] + 1
    assert orphans == 0
    again = run_assetmap("--database-url", db_url, "demo", "--remove")
    assert "removed the fictional demo directory: 0 services" in again.stdout
