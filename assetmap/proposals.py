"""Proposals kept from plans: what a locality team proposed, when, and the directory as it was.

The /plan page keeps proposals with ``keep``; the meeting page lists them with ``made``;
``since`` compares a proposal with the directory today: the services meeting the need then
and now, which new ones sit within reach of a proposed site ("the new group runs"), and the
people the same question finds unreached today. A proposal holds counts of people and the
ids of services, never anything about a person.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, select

from assetmap import localities, taxonomy
from assetmap.db import writing
from assetmap.errors import AssetmapError
from assetmap.models import AuditEntry, Location, PlanProposal, Service, ServiceAtLocation
from assetmap.planning import Plan, PlanQuestion, Site, plan, reach_of
from assetmap.projection import wgs84_to_bng

# The settings that are the question itself: enough to ask it again.
QUESTION_FIELDS = tuple(f.name for f in dataclasses.fields(PlanQuestion))
SITE_FIELDS = tuple(f.name for f in dataclasses.fields(Site))
PLAN_FIELDS = tuple(f.name for f in dataclasses.fields(Plan))
# Kept in their own places (the question, the sites, the directory); every other figure of the plan
# (greedy answer, LP bound, gap...) is kept as it came under settings["answer"].
_KEPT_APART = ("question", "sites", "services", "notes", "need_label", "locality_label", "reach_metres",
               "target_people", "unreached_people", "people_reached")
TITLE_LENGTH = 200


class ProposalError(AssetmapError):
    """A proposal that cannot be kept or found as asked."""


@dataclass
class Proposal:
    id: int
    need: str
    locality: str | None
    title: str | None
    settings: dict[str, Any]
    sites: list[dict[str, Any]]
    directory: dict[str, Any]
    people_reached: int
    made_by: str
    made_at: dt.datetime

    @property
    def question(self) -> PlanQuestion:
        """The question as it was asked, on the locality's areas as they were named then."""
        asked = {k: self.settings[k] for k in QUESTION_FIELDS if k in self.settings}
        asked["locality"] = self.locality if self.locality is not None else asked.get("locality")
        return PlanQuestion(**asked)

    @property
    def label(self) -> str:
        return self.title or (f"{len(self.sites)} new site{'' if len(self.sites) == 1 else 's'} for "
                              f"{str(self.settings.get('need_label', self.need)).lower()} in "
                              f"{self.settings.get('locality_label', self.locality or 'Scotland')}")


def _need_slug(typed: str) -> str:
    """The slug the words name, so one need's proposals are found together; else the words."""
    found = taxonomy.load().match(typed)
    return found[0].slug if len(found) == 1 else typed.strip()[:60]


def _plain(value: Any) -> Any:
    """JSON's own types for what the planner computed with numpy (numpy floats and ints)."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


def keep(engine: Engine, result: Plan, made_by: str, title: str | None = None) -> int:
    """Store the plan as a proposal (audited); its id."""
    if not made_by or not made_by.strip():
        raise ProposalError("a proposal needs the account that made it: sign in first")
    if not result.sites:
        raise ProposalError("this plan proposes no sites: there is nothing to keep")
    name = (title or "").strip()[:TITLE_LENGTH] or None
    question = result.question
    at = dt.datetime.now(dt.timezone.utc)
    with writing(engine) as conn:
        place = localities.resolve(conn, question.locality) if question.locality else localities.default(conn)
        figures = {k: v for k, v in dataclasses.asdict(result).items() if k not in _KEPT_APART}
        settings = {**dataclasses.asdict(question), "need_label": result.need_label,
                    "locality_label": result.locality_label, "reach_metres": result.reach_metres,
                    "answer": figures, "notes": list(result.notes)}
        directory = {"services": sorted(result.services), "target_people": result.target_people,
                     "unreached_people": result.unreached_people}
        made = conn.execute(PlanProposal.__table__.insert().values(
            need=_need_slug(question.need), locality=place.key if place else None, title=name,
            settings=_plain(settings), sites=_plain([dataclasses.asdict(s) for s in result.sites]),
            directory=_plain(directory), people_reached=int(result.people_reached), made_by=made_by, made_at=at))
        assert made.inserted_primary_key is not None
        proposal_id = int(made.inserted_primary_key[0])
        conn.execute(AuditEntry.__table__.insert().values(
            at=at, user=made_by, action="propose", record_type="plan_proposal", record_id=str(proposal_id),
            field="sites", old_value=None,
            new_value=(f"{len(result.sites)} new sites for {result.need_label.lower()} in {result.locality_label}, reaching "
                       f"{result.people_reached:,} people with nothing in reach")))
    return proposal_id


def _proposal(row: Any) -> Proposal:
    made_at = row.made_at if row.made_at.tzinfo else row.made_at.replace(tzinfo=dt.timezone.utc)
    return Proposal(id=row.id, need=row.need, locality=row.locality, title=row.title, settings=row.settings,
                    sites=row.sites, directory=row.directory, people_reached=row.people_reached,
                    made_by=row.made_by, made_at=made_at)


def made(conn: Connection, locality: str | None = None, since: dt.date | None = None,
         need: str | None = None) -> list[Proposal]:
    """Proposals, newest first, for a locality key (None: all) made on or after ``since``."""
    query = select(PlanProposal.__table__).order_by(PlanProposal.made_at.desc(), PlanProposal.id.desc())
    if locality is not None:
        query = query.where(PlanProposal.locality == locality)
    if since is not None:
        query = query.where(PlanProposal.made_at >= dt.datetime.combine(since, dt.time(), dt.timezone.utc))
    if need is not None:
        query = query.where(PlanProposal.need == need)
    return [_proposal(row) for row in conn.execute(query)]


def get(conn: Connection, proposal_id: int) -> Proposal:
    """One proposal; ProposalError when there is none with that id."""
    row = conn.execute(select(PlanProposal.__table__).where(PlanProposal.id == proposal_id)).first()
    if row is None:
        raise ProposalError(f"no proposal has the id {proposal_id}")
    return _proposal(row)


def as_plan(proposal: Proposal) -> Plan:
    """The plan as it was kept, for the same downloads (planning.sites_frame) as a fresh one."""
    answer = proposal.settings.get("answer", {})
    return Plan(**{k: answer[k] for k in PLAN_FIELDS if k in answer and k not in _KEPT_APART},
                question=proposal.question, need_label=proposal.settings.get("need_label", proposal.need),
                locality_label=proposal.settings.get("locality_label", proposal.locality or "Scotland"),
                reach_metres=float(proposal.settings.get("reach_metres", 0.0)),
                target_people=int(proposal.directory.get("target_people", 0)),
                unreached_people=int(proposal.directory.get("unreached_people", 0)),
                sites=[Site(**{k: s[k] for k in SITE_FIELDS if k in s}) for s in proposal.sites],
                people_reached=proposal.people_reached, services=list(proposal.directory.get("services", [])),
                notes=list(proposal.settings.get("notes", [])))


def _places(conn: Connection, service_ids: list[str]) -> list[dict[str, Any]]:
    """Each service's name and its venues' coordinates (a service without one has none)."""
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(service_ids), 500):
        rows = conn.execute(
            select(Service.id, Service.name, Service.status, Location.longitude, Location.latitude)
            .outerjoin(ServiceAtLocation, ServiceAtLocation.service_id == Service.id)
            .outerjoin(Location, Location.id == ServiceAtLocation.location_id)
            .where(Service.id.in_(service_ids[start:start + 500]))).all()
        for row in rows:
            entry = found.setdefault(row.id, {"id": row.id, "name": row.name, "status": row.status, "venues": []})
            if row.longitude is not None and row.latitude is not None:
                entry["venues"].append((float(row.longitude), float(row.latitude)))
    return [found.get(i, {"id": i, "name": None, "status": "removed", "venues": []}) for i in service_ids]


def _near_sites(venues: list[tuple[float, float]], sites: list[dict[str, Any]],
                reach_metres: float) -> list[dict[str, Any]]:
    """The proposed sites within the plan's straight-line reach of any of the service's venues."""
    if not venues or not sites:
        return []
    ve, vn = wgs84_to_bng([v[0] for v in venues], [v[1] for v in venues])
    se, sn = wgs84_to_bng([s["longitude"] for s in sites], [s["latitude"] for s in sites])
    metres = np.hypot(se[:, None] - ve[None, :], sn[:, None] - vn[None, :]).min(axis=1)
    return [{"number": n + 1, "label": sites[n]["label"], "metres": round(float(metres[n]))}
            for n in range(len(sites)) if metres[n] <= reach_metres]


def since(engine: Engine, proposal_id: int) -> dict[str, Any]:
    """What changed since the proposal: services meeting the need then and now (new, gone),
    and the people it would newly reach today."""
    with engine.connect() as conn:
        proposal = get(conn, proposal_id)
    question = proposal.question
    today = plan(engine, question)
    then, now = set(proposal.directory.get("services", [])), set(today.services)
    reach = float(proposal.settings.get("reach_metres") or today.reach_metres)
    with engine.connect() as conn:
        new = _places(conn, sorted(now - then))
        gone = _places(conn, sorted(then - now))
    for service in new:
        service["near_sites"] = _near_sites(service["venues"], proposal.sites, reach)
    # The proposed sites today, in their order: who each would newly reach beside the earlier ones.
    placed: list[tuple[float, float]] = []
    sites_today = []
    for number, site in enumerate(proposal.sites, start=1):
        found = reach_of(engine, question, site["longitude"], site["latitude"], placed)
        sites_today.append({"number": number, "label": site["label"], "newly_reached_then": site["newly_reached"],
                            "newly_reached_now": found.unreached_people})
        placed.append((site["longitude"], site["latitude"]))
    return {
        "proposal": proposal,
        "services_then": len(then), "services_now": len(now),
        "new_services": new, "gone_services": gone,
        "new_near_sites": [s for s in new if s["near_sites"]],
        "unreached_then": int(proposal.directory.get("unreached_people", 0)),
        "unreached_now": today.unreached_people,
        "target_people_now": today.target_people,
        "sites_today": sites_today,
        "reached_then": proposal.people_reached,
        "reached_now": sum(s["newly_reached_now"] for s in sites_today),
        "plan_today": today,
    }


__all__ = ["Proposal", "ProposalError", "as_plan", "get", "keep", "made", "since"]
