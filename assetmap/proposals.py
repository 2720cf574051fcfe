"""Proposals kept from plans: what a locality team proposed, when, and the directory as it was.

INTERFACE (set before the work is split): the /plan page keeps proposals with ``keep``; the
meeting page lists them with ``made``; ``since`` compares a proposal with the directory today.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine

from assetmap.planning import Plan


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


def keep(engine: Engine, result: Plan, made_by: str, title: str | None = None) -> int:
    """Store the plan as a proposal (audited); its id."""
    raise NotImplementedError


def made(conn: Connection, locality: str | None = None, since: dt.date | None = None,
         need: str | None = None) -> list[Proposal]:
    """Proposals, newest first, for a locality key (None: all) made on or after ``since``."""
    raise NotImplementedError


def since(engine: Engine, proposal_id: int) -> dict[str, Any]:
    """What changed since the proposal: services meeting the need then and now (new, gone),
    and the people it would newly reach today."""
    raise NotImplementedError


__all__ = ["Proposal", "keep", "made", "since"]
