"""The needs vocabulary: in the database after init, linked both ways, forgiving of typos."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import aliased

from assetmap.db import init_database
from assetmap.models import Attribute, TaxonomyTerm, TermSynonym
from assetmap.taxonomy import ACTIVITIES_TAXONOMY, NEEDS_TAXONOMY, load
from tests.snapshots import fingerprint

CLW_NEEDS = {"housing", "mental-health", "asylum", "caring", "money", "employment", "loneliness",
             "addictions", "relationships", "bereavement", "physical-health", "food"}


def links(engine: Engine) -> set[tuple[str, str]]:
    """(activity slug, need slug) pairs as stored in the database."""
    activity, need = aliased(TaxonomyTerm), aliased(TaxonomyTerm)
    with engine.connect() as conn:
        rows = conn.execute(
            select(activity.code, need.code)
            .join(Attribute, Attribute.link_id == activity.id)
            .join(need, need.id == Attribute.taxonomy_term_id)
            .where(Attribute.link_type == "serves_need")
        ).all()
    return {(a, n) for a, n in rows}


def test_every_need_and_activity_type_is_linked_both_ways(engine: Engine) -> None:
    with engine.connect() as conn:
        needs = set(conn.execute(select(TaxonomyTerm.code).where(TaxonomyTerm.taxonomy == NEEDS_TAXONOMY)).scalars())
        activities = set(conn.execute(
            select(TaxonomyTerm.code).where(TaxonomyTerm.taxonomy == ACTIVITIES_TAXONOMY)).scalars())
    assert CLW_NEEDS <= needs
    assert {"health-walk", "gardening-group", "singing-for-breathing", "bereavement-support", "food-bank",
            "welfare-rights-advice", "peer-support", "arts-and-crafts"} <= activities
    pairs = links(engine)
    assert {a for a, _ in pairs} == activities
    assert {n for _, n in pairs} == needs
    assert ("gardening-group", "loneliness") in pairs


def test_reinstalling_the_taxonomy_changes_nothing(engine: Engine) -> None:
    models = (TaxonomyTerm, TermSynonym, Attribute)
    before = fingerprint(engine, models)
    init_database(engine)
    assert fingerprint(engine, models) == before
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(TermSynonym)).scalar_one() > 100


@pytest.mark.parametrize(("typed", "slugs"), [
    ("loneliness", ["loneliness"]), ("lonely", ["loneliness"]), ("lonliness", ["loneliness"]),
    ("benifits", ["money"]), ("Universal Credit", ["money"]), ("grief", ["bereavement"]),
    ("homless", ["housing"]), ("singing for breathing", ["singing-for-breathing"]),
    ("food bank", ["food-bank"]), ("food-bank", ["food-bank"]), ("foodbank", ["food", "food-bank"]),
])
def test_what_a_clw_types_finds_the_term(typed: str, slugs: list[str]) -> None:
    assert [t.slug for t in load().match(typed)] == slugs


def test_words_that_mean_nothing_here_match_nothing() -> None:
    assert load().match("zzzz qqqq") == []
    assert load().match("") == []
