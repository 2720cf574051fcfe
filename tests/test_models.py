"""The database keeps Open Referral records honest on both backends."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from assetmap.models import Location, Organization, Schedule, Service


def test_a_service_status_outside_the_standard_is_refused(engine: Engine) -> None:
    with pytest.raises(IntegrityError), Session(engine) as session, session.begin():
        session.add(Service(id="s", name="Lunch club", status="maybe"))
    with Session(engine) as session:
        assert session.scalars(select(Service)).all() == []


def test_impossible_coordinates_are_kept_as_given_but_not_placed(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        session.add(Location(id="l", name="Nowhere", latitude=95.0, longitude=-4.25))
    with Session(engine) as session:
        location = session.get(Location, "l")
        assert location is not None and location.latitude == 95.0 and location.geom is None


def test_deleting_a_service_removes_its_schedules(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        session.add(Organization(id="o", name="Carers Centre"))
        session.add(Service(id="s", name="Carers cafe", organization_id="o",
                            schedules=[Schedule(id="sch", freq="WEEKLY", byday="TU", opens_at="10:00")]))
    with Session(engine) as session, session.begin():
        service = session.get(Service, "s")
        assert service is not None and [s.byday for s in service.schedules] == ["TU"]
        session.delete(service)
    with Session(engine) as session:
        assert session.scalars(select(Schedule)).all() == []
