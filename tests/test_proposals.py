"""Proposals kept from real plans: kept with the directory as it was, listed, audited, and
compared with today once a new group runs near a proposed site (all of Scotland's open data,
both backends)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from sqlalchemy import Engine

from assetmap import editing, localities, proposals
from assetmap.db import connect
from assetmap.geography import lookup
from assetmap.planning import PlanQuestion, plan, sites_frame, unreached_areas


def east_end(engine: Engine) -> str:
    """A locality team's own patch: the 60 Glasgow data zones numbered around G31 4EB's (the East
    End), small enough to plan in seconds on a busy machine."""
    with engine.connect() as conn:
        glasgow = localities.resolve(conn, "Glasgow City")
        zone = lookup(conn, "G31 4EB").area_code
    assert glasgow is not None and zone in glasgow.area_codes
    at = glasgow.area_codes.index(zone)
    return ",".join(glasgow.area_codes[at - 30:at + 30])


def test_a_kept_proposal_is_listed_audited_and_shows_the_new_group_near_its_site(scotland_copy_url: str) -> None:
    engine = connect(scotland_copy_url)
    patch = east_end(engine)
    question = PlanQuestion(need="food", locality=patch, sites=2, walk_minutes=10)
    result = plan(engine, question)
    assert len(result.sites) == 2 and result.people_reached > 0 and result.services

    # The map's unreached people add up to the plan's count (each zone's count is rounded).
    areas = unreached_areas(engine, question)
    assert areas and {a["area_code"] for a in areas} <= set(patch.split(","))
    assert abs(sum(a["people"] for a in areas) - result.unreached_people) <= len(areas)

    with pytest.raises(proposals.ProposalError, match="sign in"):
        proposals.keep(engine, result, " ")
    kept = proposals.keep(engine, result, "editor@example.org", "Two pantries for the East End")
    with engine.connect() as conn:
        listed = proposals.made(conn)
        assert [p.id for p in listed] == [kept]
        assert proposals.made(conn, locality=patch) == listed and proposals.made(conn, locality="S12000049") == []
        assert proposals.made(conn, need="food") == listed and proposals.made(conn, need="loneliness") == []
        assert proposals.made(conn, since=dt.date.today() + dt.timedelta(days=1)) == []
        assert proposals.made(conn, since=dt.date.today()) == listed
    proposal = listed[0]
    assert proposal.title == "Two pantries for the East End" and proposal.made_by == "editor@example.org"
    assert abs(proposal.made_at - dt.datetime.now(dt.timezone.utc)) < dt.timedelta(minutes=10)
    assert proposal.people_reached == result.people_reached
    assert [s["label"] for s in proposal.sites] == [s.label for s in result.sites]
    assert proposal.directory["services"] == sorted(result.services)
    assert proposal.directory["unreached_people"] == result.unreached_people
    assert proposal.question == dataclasses.replace(question, locality=patch)
    saves = [e for e in editing.audit_log(engine) if e["record_type"] == "plan_proposal"]
    assert [(e["record_id"], e["user"], e["actions"]) for e in saves] == [(str(kept), "editor@example.org", ["propose"])]
    # Kept as it was: the kept plan downloads the same sites as the fresh one.
    assert list(sites_frame(proposals.as_plan(proposal))["label"]) == list(sites_frame(result)["label"])

    unchanged = proposals.since(engine, kept)
    assert unchanged["new_services"] == [] and unchanged["gone_services"] == []
    assert unchanged["unreached_now"] == unchanged["unreached_then"] == result.unreached_people
    assert [s["newly_reached_now"] for s in unchanged["sites_today"]] == [s.newly_reached for s in result.sites]

    # A new food group starts 100 m from the first proposed site: the proposal sees it.
    first = result.sites[0]
    editing.save_service(engine, {"name": "Parkhead Community Pantry", "status": "active", "needs": ["food"],
                                  "latitude": first.latitude + 0.0009, "longitude": first.longitude,
                                  "attending": ["in_person"]}, "editor@example.org")
    changed = proposals.since(engine, kept)
    assert [s["name"] for s in changed["new_services"]] == ["Parkhead Community Pantry"]
    assert changed["services_now"] == changed["services_then"] + 1
    near = changed["new_near_sites"]
    assert [s["name"] for s in near] == ["Parkhead Community Pantry"]
    assert near[0]["near_sites"][0]["number"] == 1 and 80 < near[0]["near_sites"][0]["metres"] < 120
    # The people around site 1 now have food in reach: fewer unreached, and site 1 reaches fewer of them.
    assert changed["unreached_now"] < changed["unreached_then"]
    assert changed["sites_today"][0]["newly_reached_now"] < first.newly_reached
    with pytest.raises(proposals.ProposalError, match="no proposal has the id 999"):
        proposals.since(engine, 999)
    engine.dispose()
