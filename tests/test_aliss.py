"""ALISS's lists and the crosswalk, on the real files in ../shared/aliss."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from assetmap import taxonomy
from assetmap.directory import needs_of_term
from tests.conftest import IN_CI, shared_dir


@pytest.fixture(scope="session")
def aliss_dir() -> Path:
    folder = shared_dir() / "aliss"
    if not (folder / "aliss-categories.csv").exists():
        message = f"ALISS's files are not at {folder}: set ASSETMAP_SHARED_DIR to the folder holding aliss/"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return folder


# --- ALISS's lists and the crosswalk, as shipped ---------------------------------------------


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_shipped_lists_are_alisss_own(aliss_dir: Path) -> None:
    lists = taxonomy.aliss_lists()
    categories = [(str(c.number), c.name, c.slug, c.parent or "") for c in lists.categories]
    theirs = [(r["id"], r["name"], r["slug"] or "community-policing-and-safety", r["parent_slug"])
              for r in _csv(aliss_dir / "aliss-categories.csv")]
    assert categories == theirs and len(categories) == 312
    features = [(f.name, f.slug) for f in lists.accessibility]
    theirs = [(r["name"], "telephone-service" if r["name"] == "Telephone Service" else r["slug"])
              for r in _csv(aliss_dir / "aliss-accessibility-features.csv")]
    assert features == theirs and len(features) == 17 and len({s for _, s in features}) == 17
    assert [(g.name, g.slug) for g in lists.groups] == [(r["name"], r["slug"])
                                                        for r in _csv(aliss_dir / "aliss-community-groups.csv")]


def test_the_crosswalk_names_every_category_and_only_assetmaps_needs() -> None:
    crosswalk = taxonomy.aliss_crosswalk()
    assert set(crosswalk) == {c.slug for c in taxonomy.aliss_lists().categories}
    slugs = {t.slug for t in taxonomy.load().terms}
    assert {target for targets in crosswalk.values() for target in targets} <= slugs


def test_the_telephone_is_told_from_the_app_though_alisss_table_gives_them_one_slug() -> None:
    assert taxonomy.aliss_feature("app-based-service", "Telephone Service").name == "Telephone Service"
    assert taxonomy.aliss_feature("app-based-service", "App Based Service").name == "App Based Service"
    assert taxonomy.aliss_feature("app-based-service").name == "App Based Service"
    assert taxonomy.aliss_feature("telephone-service").name == "Telephone Service"


def test_older_slugs_are_todays_category_with_the_same_words_and_nothing_is_guessed() -> None:
    assert taxonomy.aliss_category("food-nutrition", "Food & Nutrition").slug == "food-and-nutrition"
    assert taxonomy.aliss_category("parent-family-support").slug == "parent-and-family-support"
    assert taxonomy.aliss_category("health-social-care-services").slug == "health-and-social-care-services"
    assert taxonomy.aliss_category("physical-health", "Physical Health").slug == "physical-health-issues"
    assert taxonomy.aliss_category("mental-health-issues", "Mental Health Issues") is None
    assert taxonomy.aliss_category("underwater-basket-weaving", "Underwater Basket Weaving") is None


def test_the_crosswalk_is_the_one_rule_for_alisss_categories() -> None:
    vocabulary = taxonomy.load()
    assert set(needs_of_term(vocabulary, "aliss:foodbank", "Foodbank")) == {"food-bank", "food", "money"}
    assert set(needs_of_term(vocabulary, "aliss:food-nutrition", "Food & Nutrition")) == {"food"}
    assert {"counselling", "mental-health"} <= set(needs_of_term(vocabulary, "aliss:counselling", "Counselling"))
    # The crosswalk's [] wins over what the name alone would match ("active" is physical activity's).
    assert needs_of_term(vocabulary, "active", "Active") and not needs_of_term(vocabulary, "aliss:activity", "Active")
    # "Who it is for" says nothing of the needs met, though "Mental health" would match by name.
    assert not needs_of_term(vocabulary, "aliss-group:mental-health", "Mental health")
    # A category no list knows is matched by its name, as any other taxonomy's term.
    assert "money" in needs_of_term(vocabulary, "aliss:money-worries-2019", "Money worries")
