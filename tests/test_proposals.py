"""Proposals kept from real plans: kept with the directory as it was, listed, and compared with
today once a new group runs near a proposed site (all of Scotland's open data, both backends)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from assetmap import editing, proposals
from assetmap.db import connect
from assetmap.planning import PlanQuestion, plan, sites_frame

# A council area small enough to plan in seconds, with Give Food's food banks in it.
QUESTION = PlanQuestion(need="food", locality="Inverclyde", sites=2, walk_minutes=15)


def test_a_kept_proposal_is_listed_audited_and_shows_the_new_group_near_its_site(scotland_copy_url: str) -> None:
    engine = connect(scotland_copy_url)
    result = plan(engine, QUESTION)
    assert len(result.sites) == 2 and result.people_reached > 0
    kept = proposals.keep(engine, result, "editor@example.org", "Two pantries for Inverclyde")

    with engine.connect() as conn:
        listed = proposals.made(conn)
        assert [p.id for p in listed] == [kept]
        proposal = listed[0]
        assert proposals.made(conn, locality="S12000018") == listed  # Inverclyde's council code
        assert proposals.made(conn, locality="S12000049") == []  # not Glasgow's
        assert proposals.made(conn, need="food") == listed and proposals.made(conn, need="loneliness") == []
        assert proposals.made(conn, since=dt.date.today() + dt.timedelta(days=1)) == []
        assert proposals.made(conn, since=dt.date.today()) == listed
    assert proposal.title == "Two pantries for Inverclyde" and proposal.made_by == "editor@example.org"
    assert abs(proposal.made_at - dt.datetime.now(dt.timezone.utc)) < dt.timedelta(minutes=5)
    assert proposal.people_reached == result.people_reached
    assert [s["label"] for s in proposal.sites] == [s.label for s in result.sites]
    assert sorted(proposal.directory["services"]) == sorted(result.services) and result.services
    assert proposal.directory["unreached_people"] == result.unreached_people
    assert proposal.question == dataclasses.replace(QUESTION, locality="S12000018")
    saves = [e for e in editing.audit_log(engine) if e["record_type"] == "plan_proposal"]
    assert [(e["record_id"], e["user"], e["actions"]) for e in saves] == [(str(kept), "editor@example.org", ["propose"])]
    # Kept as it was: the downloads of the kept plan are the same sites as the fresh one's.
    assert list(sites_frame(proposals.as_plan(proposal)).geometry.x) == list(sites_frame(result).geometry.x)

    unchanged = proposals.since(engine, kept)
    assert unchanged["new_services"] == [] and unchanged["gone_services"] == []
    assert unchanged["unreached_now"] == unchanged["unreached_then"] == result.unreached_people
    assert [s["newly_reached_now"] for s in unchanged["sites_today"]] == [s.newly_reached for s in result.sites]

    # A new food group starts 100 m from the first proposed site: the proposal sees it.
    first = result.sites[0]
    editing.save_service(engine, {"name": "Greenock Community Pantry", "status": "active", "needs": ["food"],
                                  "latitude": first.latitude + 0.0009, "longitude": first.longitude,
                                  "attending": ["in_person"]}, "editor@example.org")
    changed = proposals.since(engine, kept)
    assert [s["name"] for s in changed["new_services"]] == ["Greenock Community Pantry"]
    assert changed["services_now"] == changed["services_then"] + 1
    near = changed["new_near_sites"]
    assert [s["name"] for s in near] == ["Greenock Community Pantry"]
    assert near[0]["near_sites"][0]["number"] == 1 and 80 < near[0]["near_sites"][0]["metres"] < 120
    # The people around site 1 now have food in reach: fewer unreached, and site 1 reaches fewer of them.
    assert changed["unreached_now"] < changed["unreached_then"]
    assert changed["sites_today"][0]["newly_reached_now"] < first.newly_reached
    engine.dispose()


def test_what_cannot_be_kept_or_found_is_said(scotland_url: str) -> None:
    engine = connect(scotland_url)
    with pytest.raises(proposals.ProposalError, match="no proposal has the id 999"):
        proposals.since(engine, 999)
    result = plan(engine, QUESTION)
    with pytest.raises(proposals.ProposalError, match="sign in"):
        proposals.keep(engine, result, " ")
    engine.dispose()


def test_the_map_of_unreached_people_adds_up_to_the_plans_count(scotland_url: str) -> None:
    engine = connect(scotland_url)
    result = plan(engine, QUESTION)
    areas = proposals.unreached_areas(engine, result)
    assert areas and all(a["area_code"].startswith("S01") and a["people"] > 0 for a in areas)
    # Each zone's count is rounded: the total is within one person a zone of the plan's own count.
    assert abs(sum(a["people"] for a in areas) - result.unreached_people) <= len(areas)
    assert all(55.8 < a["latitude"] < 56.0 and -4.95 < a["longitude"] < -4.55 for a in areas)  # in Inverclyde
    engine.dispose()
