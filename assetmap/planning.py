"""Planning new provision: where new sites for a need would reach the most people who have nothing.

A maximal covering location problem (Church and ReVelle 1974): people are the live postcodes
of the locality, sharing each data zone's population; the target group is everyone, or the
people of the most deprived SIMD deciles; a person is *unreached* when no active service
meeting the need is within the reach (a walk in minutes, x1.3 detour at 4.8 km/h as in the
search, or metres). Candidates are live postcodes, or venues already in the directory.
``plan`` picks the sites that together reach the most unreached people: exactly, as an
integer programme solved by HiGHS (SciPy's ``milp``), with the greedy answer and the LP
bound beside it and the optimality gap stated.

INTERFACE (set before the work is split): helpers fill in the bodies, the names and fields
below are what the command line, the /plan page, the meeting page and the notebook use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import geopandas as gpd
from sqlalchemy import Engine

from assetmap.errors import AssetmapError

Candidates = Literal["postcodes", "venues"]
DEFAULT_WALK_MINUTES = 20.0
MAX_SITES = 50


class PlanError(AssetmapError):
    """The plan cannot be made as asked (unknown need, empty locality, too many sites...)."""


@dataclass(frozen=True)
class PlanQuestion:
    """What a locality team asks: for this need, in this locality, where should new sites go?"""

    need: str  # a need or activity slug, or typed words (resolved as the search does)
    locality: str | None = None  # as localities.resolve reads it; None: the deployment's default, else Scotland
    sites: int = 5
    walk_minutes: float | None = DEFAULT_WALK_MINUTES  # the reach, as an estimated walk...
    metres: float | None = None  # ...or in straight-line metres (give one of the two)
    deprived_deciles: int | None = None  # the target group: people in SIMD deciles 1..D; None: everyone
    candidates: Candidates = "postcodes"


@dataclass
class Site:
    """One proposed site, in the order the plan adds them."""

    key: str  # the candidate: a postcode ("G31 4EB"), or a location id for a venue
    label: str  # what a person reads: the postcode, or the venue's name and address
    longitude: float
    latitude: float
    area_code: str | None  # the data zone it is in
    newly_reached: int  # people in the target group reached by this site and by no earlier site of the plan
    reach_alone: int  # people in the target group with nothing in reach today whom this site reaches


@dataclass
class Plan:
    question: PlanQuestion
    need_label: str
    locality_label: str  # "Glasgow City", "Scotland"
    reach_metres: float  # the straight-line radius used
    target_people: int  # people in the target group in the locality
    unreached_people: int  # of those, with no service meeting the need in reach today
    sites: list[Site]
    people_reached: int  # the exact objective: unreached people the sites reach together
    greedy_reached: int  # what adding one best site at a time reaches
    lp_bound: float  # the linear relaxation's optimum: no choice of sites reaches more
    gap: float  # (lp_bound - people_reached) / lp_bound, 0 when proved optimal by the solver
    optimal: bool  # the solver proved people_reached optimal
    candidates: int  # candidate sites considered (after removing ones that reach no one)
    seconds: float  # building and solving
    services: list[str] = field(default_factory=list)  # ids of the services meeting the need there today
    notes: list[str] = field(default_factory=list)  # plain sentences: counting rules, what was left out


@dataclass
class Reach:
    """Who one proposed site would reach ("what if"): for a point a person places on the map."""

    longitude: float
    latitude: float
    reach_metres: float
    people: int  # people in the target group within reach of the point
    unreached_people: int  # of those, with nothing in reach today: the people it would newly reach
    areas: list[str]  # data zones with people it would newly reach


def plan(engine: Engine, question: PlanQuestion) -> Plan:
    """The sites that reach the most unreached people in the target group (see the module)."""
    raise NotImplementedError


def reach_of(engine: Engine, question: PlanQuestion, longitude: float, latitude: float,
             placed: Sequence[tuple[float, float]] = ()) -> Reach:
    """Who a site at this point would newly reach, beside the sites already ``placed``."""
    raise NotImplementedError


def sites_frame(result: Plan) -> gpd.GeoDataFrame:
    """The plan's sites as points (EPSG:4326), for CSV and GeoJSON downloads and notebooks."""
    raise NotImplementedError


__all__ = ["Candidates", "DEFAULT_WALK_MINUTES", "MAX_SITES", "Plan", "PlanError", "PlanQuestion", "Reach",
           "Site", "plan", "reach_of", "sites_frame"]
