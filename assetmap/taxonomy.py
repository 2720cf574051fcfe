"""Needs and activity types: the vocabulary that links a person's difficulties to help.

The readable source is ``assetmap/data/taxonomy.toml``, shipped inside the package
(so an installed wheel has it; ASSETMAP_TAXONOMY names another file); ``install`` puts it into the
Open Referral taxonomy tables (one taxonomy for needs, one for activity types,
activity -> need links as attributes) and the synonyms table. ``match`` turns
what a CLW types, typos included, into terms.

ALISS's own lists (``assetmap/data/aliss.toml``: its category tree, accessibility features
and "who it is for" groups) are kept as ALISS has them, as taxonomies of their own, and
``assetmap/data/aliss-crosswalk.toml`` says which needs each ALISS category meets
(``aliss_needs``, asked by ``directory.needs_of_term``).
"""

from __future__ import annotations

import difflib
import os
import re
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete

from assetmap import changes
from assetmap.errors import ConfigError
from assetmap.io.write import upsert
from assetmap.models import Attribute, Taxonomy, TaxonomyTerm, TermSynonym

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

NAMESPACE = uuid.UUID("6f1c2d0e-4b7a-5c1e-9a43-2f6d8e1b7c55")
# Package data, next to this module: present in a checkout, an editable install and a wheel alike.
DEFAULT_FILE = Path(__file__).resolve().parent / "data" / "taxonomy.toml"
NEEDS_TAXONOMY = "assetmap-needs"
ACTIVITIES_TAXONOMY = "assetmap-activity-types"
# How alike a typed word must be to a term or synonym to count as a typo of it.
FUZZY_CUTOFF = 0.8


def stable_id(kind: str, key: str) -> str:
    """The same UUID for the same thing on every machine, as ORUK wants UUIDs."""
    return str(uuid.uuid5(NAMESPACE, f"{kind}:{key}"))


@dataclass(frozen=True)
class Term:
    slug: str
    label: str
    description: str
    kind: str  # "need" or "activity"
    synonyms: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()  # for activity types: the needs they serve

    @property
    def id(self) -> str:
        return stable_id(self.kind, self.slug)


@dataclass(frozen=True)
class Vocabulary:
    needs: tuple[Term, ...]
    activities: tuple[Term, ...]
    _by_slug: dict[str, Term] = field(default_factory=dict, compare=False, repr=False)
    # Every slug, label and synonym, normalised -> the slugs it names.
    _phrases: dict[str, list[str]] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for term in self.needs + self.activities:
            self._by_slug[term.slug] = term
            for phrase in (term.slug, term.label, *term.synonyms):
                slugs = self._phrases.setdefault(_normalise(phrase), [])
                if term.slug not in slugs:
                    slugs.append(term.slug)

    def term(self, slug: str) -> Term | None:
        return self._by_slug.get(slug)

    @property
    def terms(self) -> tuple[Term, ...]:
        return self.needs + self.activities

    def activities_for(self, need: str) -> list[Term]:
        return [a for a in self.activities if need in a.needs]

    def match(self, typed: str) -> list[Term]:
        """Terms meant by what was typed: exact slug, label or synonym first, then typos.

        Returns several terms when a word is a synonym of several ("money advice").
        """
        slug = typed.strip().lower()
        if slug in self._by_slug:  # a slug names exactly one term
            return [self._by_slug[slug]]
        text = _normalise(typed)
        if not text:
            return []
        labels = [t for t in self.terms if _normalise(t.label) == text]
        if labels:
            return labels
        phrases = self._phrases
        if text in phrases:
            return [self._by_slug[s] for s in phrases[text]]
        close = difflib.get_close_matches(text, phrases.keys(), n=3, cutoff=FUZZY_CUTOFF)
        if not close:
            return []
        best = close[0]
        return [self._by_slug[s] for s in phrases[best]]


    def knows(self, typed: str) -> bool:
        """Whether ``typed`` is a slug, label or synonym as it stands: not a guess at a typo."""
        text = _normalise(typed)
        return typed.strip().lower() in self._by_slug or text in self._phrases or \
            any(_normalise(t.label) == text for t in self.terms)


def _normalise(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower().replace("-", " ")).split())


def load(path: Path | str | None = None) -> Vocabulary:
    """Read the taxonomy file (ASSETMAP_TAXONOMY, or the package's assetmap/data/taxonomy.toml)."""
    source = Path(path or os.environ.get("ASSETMAP_TAXONOMY") or DEFAULT_FILE)
    return _load(source)


@lru_cache(maxsize=4)
def _load(source: Path) -> Vocabulary:
    with open(source, "rb") as handle:
        data = tomllib.load(handle)
    needs = tuple(Term(n["slug"], n["label"], n["description"], "need", tuple(n.get("synonyms", ())))
                  for n in data.get("need", []))
    activities = tuple(Term(a["slug"], a["label"], a["description"], "activity",
                            tuple(a.get("synonyms", ())), tuple(a.get("needs", ())))
                       for a in data.get("activity", []))
    known = {n.slug for n in needs}
    for activity in activities:
        unknown = [n for n in activity.needs if n not in known]
        if unknown:
            raise ValueError(f"{source}: activity {activity.slug} serves unknown needs {unknown}")
    return Vocabulary(needs, activities)


def install(conn: Connection, vocabulary: Vocabulary | None = None) -> int:
    """Write the vocabulary into the taxonomy tables; running it again changes nothing."""
    vocabulary = vocabulary or load()
    taxonomies = [
        {"id": stable_id("taxonomy", NEEDS_TAXONOMY), "name": NEEDS_TAXONOMY, "version": "1",
         "description": "Needs people bring to Community Links Workers", "uri": None},
        {"id": stable_id("taxonomy", ACTIVITIES_TAXONOMY), "name": ACTIVITIES_TAXONOMY, "version": "1",
         "description": "Kinds of community activity, each linked to the needs it serves", "uri": None},
    ]
    upsert(conn, Taxonomy.__table__, taxonomies)
    terms = []
    for term in vocabulary.terms:
        taxonomy = NEEDS_TAXONOMY if term.kind == "need" else ACTIVITIES_TAXONOMY
        terms.append({"id": term.id, "code": term.slug, "name": term.label, "term": term.label,
                      "description": term.description, "taxonomy": taxonomy,
                      "taxonomy_id": stable_id("taxonomy", taxonomy), "language": "en"})
    upsert(conn, TaxonomyTerm.__table__, terms)
    ids = [t.id for t in vocabulary.terms]
    conn.execute(delete(TermSynonym).where(TermSynonym.term_id.in_(ids)))
    synonyms = {(t.id, _normalise(s)) for t in vocabulary.terms for s in t.synonyms}
    if synonyms:
        conn.execute(TermSynonym.__table__.insert(), [{"term_id": i, "synonym": s} for i, s in sorted(synonyms)])
    links = [{"id": stable_id("serves", f"{a.slug}>{n}"), "link_id": a.id, "link_type": "serves_need",
              "link_entity": "taxonomy_term", "taxonomy_term_id": stable_id("need", n)}
             for a in vocabulary.activities for n in a.needs]
    upsert(conn, Attribute.__table__, links)
    changes.bump(conn, changes.DIRECTORY)
    return len(terms)


# --- ALISS's lists and the crosswalk to assetmap's needs --------------------------------

ALISS_FILE = DEFAULT_FILE.parent / "aliss.toml"
ALISS_CROSSWALK_FILE = DEFAULT_FILE.parent / "aliss-crosswalk.toml"
ALISS_TAXONOMY = "aliss-categories"
ALISS_GROUPS_TAXONOMY = "aliss-community-groups"
# Term codes say whose a term is, so the one rule for needs (directory.needs_of_term) can tell
# an ALISS category from one of assetmap's slugs: ALISS's "counselling" is assetmap's only
# because the crosswalk says so.
ALISS_CATEGORY = "aliss:"
ALISS_GROUP = "aliss-group:"


@dataclass(frozen=True)
class AlissItem:
    """A category, accessibility feature or "who it is for" group, as ALISS names it."""

    name: str
    slug: str
    parent: str | None = None  # categories: the parent's slug
    number: int | None = None  # categories: ALISS's own id


@dataclass(frozen=True)
class AlissLists:
    categories: tuple[AlissItem, ...]
    accessibility: tuple[AlissItem, ...]
    groups: tuple[AlissItem, ...]
    by_slug: dict[str, AlissItem] = field(default_factory=dict, compare=False, repr=False)
    # The words of each category's slug and name -> the category, where only one has them.
    by_words: dict[frozenset[str], AlissItem] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        seen: dict[frozenset[str], set[str]] = {}
        for item in self.categories:
            self.by_slug[item.slug] = item
            for words in (_words(item.slug), _words(item.name)):
                seen.setdefault(words, set()).add(item.slug)
        for words, slugs in seen.items():
            if words and len(slugs) == 1:
                self.by_words[words] = self.by_slug[next(iter(slugs))]


def _words(text: str) -> frozenset[str]:
    """The words of a slug or a name, so that "food-nutrition", "Food & Nutrition" and "Food and
    Nutrition" are alike: lower case, "and" and "&" dropped, a plural s dropped."""
    words = re.split(r"[^a-z0-9]+", text.lower())
    return frozenset(w[:-1] if len(w) > 3 and w.endswith("s") else w for w in words if w and w != "and")


@lru_cache(maxsize=1)
def aliss_lists() -> AlissLists:
    """ALISS's category tree, accessibility features and "who it is for" groups (package data)."""
    with open(ALISS_FILE, "rb") as handle:
        data = tomllib.load(handle)
    categories = tuple(AlissItem(c["name"], c["slug"], c["parent"] or None, c["id"]) for c in data["categories"])
    features = tuple(AlissItem(f["name"], f["slug"]) for f in data["accessibility_features"])
    groups = tuple(AlissItem(g["name"], g["slug"]) for g in data["community_groups"])
    return AlissLists(categories, features, groups)


def aliss_category(slug: str, name: str | None = None) -> AlissItem | None:
    """Today's ALISS category for a slug: the category itself, or, for an older slug, the one
    category whose slug or name has the same words ("food-nutrition" is "food-and-nutrition").
    None when no category, or more than one, has them: guessing further would be unsafe."""
    lists = aliss_lists()
    found = lists.by_slug.get(slug.strip().lower())
    if found:
        return found
    for words in (_words(slug), _words(name or "")):
        if words in lists.by_words:
            return lists.by_words[words]
    return None


def aliss_feature(slug: str | None, name: str | None = None) -> AlissItem | None:
    """An accessibility feature by its name or slug. ALISS's table gives "Telephone Service" the
    slug of "App Based Service" (app-based-service: the source's own error), so the name is
    asked first, and assetmap's list gives the telephone its own slug, telephone-service."""
    features = aliss_lists().accessibility
    wanted = (name or "").strip().lower()
    for feature in features:
        if wanted and feature.name.lower() == wanted:
            return feature
    wanted_slug = (slug or "").strip().lower()
    return next((f for f in features if f.slug == wanted_slug), None)


# ALISS's accessibility table also holds how a service is given (online, by telephone or app,
# hybrid) and what it costs (free): those are not a venue's, and the search asks them as
# --attending and --free.
ALISS_NOT_VENUE = frozenset({"free-to-use-service", "hybrid-service", "online-service", "app-based-service",
                             "telephone-service"})


def aliss_venue_features() -> tuple[AlissItem, ...]:
    """ALISS's accessibility features that a venue has: the list the editor and the search offer."""
    return tuple(f for f in aliss_lists().accessibility if f.slug not in ALISS_NOT_VENUE)


def aliss_group(slug: str | None, name: str | None = None) -> AlissItem | None:
    """A "who it is for" group by its slug or name (ALISS's slugs are not all lower case)."""
    wanted, wanted_name = (slug or "").strip().lower(), (name or "").strip().lower()
    return next((g for g in aliss_lists().groups
                 if g.slug.lower() == wanted or (wanted_name and g.name.lower() == wanted_name)), None)


def aliss_crosswalk() -> dict[str, tuple[str, ...]]:
    """ALISS category slug -> the needs and activity types it meets (ASSETMAP_ALISS_CROSSWALK, or
    the package's assetmap/data/aliss-crosswalk.toml)."""
    return _crosswalk(Path(os.environ.get("ASSETMAP_ALISS_CROSSWALK") or ALISS_CROSSWALK_FILE))


@lru_cache(maxsize=4)
def _crosswalk(source: Path) -> dict[str, tuple[str, ...]]:
    """The crosswalk file, or one line saying what to mend in it (a person edits it)."""
    try:
        with open(source, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read the ALISS crosswalk {source}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the ALISS crosswalk {source} is not valid TOML ({exc}): mend that line") from None
    categories = data.get("categories")
    if not isinstance(categories, dict):
        raise ConfigError(f"the ALISS crosswalk {source} has no [categories] table: see the header of "
                          f"assetmap/data/aliss-crosswalk.toml")
    found = {}
    for slug, targets in categories.items():
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            raise ConfigError(f"the ALISS crosswalk {source}: {slug} should be a list of slugs in quotes, "
                              f"such as [\"food\"] (or [] for none)")
        found[slug] = tuple(targets)
    return found


def aliss_needs(code: str | None, name: str | None) -> tuple[str, ...] | None:
    """The needs and activity types an ALISS term meets, from the crosswalk.

    None for a term that is not ALISS's, or an ALISS category the crosswalk does not name even
    by its words: that one is matched by its name, as any other term. A "who it is for" group
    meets nothing: that a group is for older adults says nothing of what it helps with."""
    if not code:
        return None
    if code.startswith(ALISS_GROUP):
        return ()
    if not code.startswith(ALISS_CATEGORY):
        return None
    slug = code[len(ALISS_CATEGORY):]
    crosswalk = aliss_crosswalk()
    if slug in crosswalk:
        return crosswalk[slug]
    today = aliss_category(slug, name)
    return crosswalk.get(today.slug) if today else None


def aliss_category_id(slug: str) -> str:
    return stable_id("aliss-category", slug)


def aliss_group_id(slug: str) -> str:
    return stable_id("aliss-group", slug.lower())


def aliss_taxonomy_rows(older: Mapping[str, str] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Rows for the taxonomy tables: ALISS's category tree and its "who it is for" groups, each a
    taxonomy of its own, and the older category slugs records use (``older``: slug -> name), kept
    as terms under the category of today that has their words (or at the top, when none has)."""
    lists = aliss_lists()
    taxonomies = [
        {"id": stable_id("taxonomy", ALISS_TAXONOMY), "name": ALISS_TAXONOMY, "version": "2024",
         "description": "ALISS's categories (www.aliss.org), as ALISS files services under them",
         "uri": "https://www.aliss.org"},
        {"id": stable_id("taxonomy", ALISS_GROUPS_TAXONOMY), "name": ALISS_GROUPS_TAXONOMY, "version": "2024",
         "description": "Who a service is for, in ALISS's words (www.aliss.org)", "uri": "https://www.aliss.org"},
    ]
    terms = [_aliss_term(c.slug, c.name, aliss_category_id(c.parent) if c.parent else None, None)
             for c in lists.categories]
    for slug, name in sorted((older or {}).items()):
        today = aliss_category(slug, name)
        description = (f"An older ALISS category slug: today's {today.name!r} ({today.slug})" if today
                       else "An ALISS category that is not in ALISS's tree today")
        terms.append(_aliss_term(slug, name, aliss_category_id(today.slug) if today else None, description))
    for group in lists.groups:
        terms.append({"id": aliss_group_id(group.slug), "code": ALISS_GROUP + group.slug, "name": group.name,
                      "term": group.name, "description": None, "parent_id": None,
                      "taxonomy": ALISS_GROUPS_TAXONOMY, "taxonomy_id": stable_id("taxonomy", ALISS_GROUPS_TAXONOMY),
                      "language": "en"})
    return {"taxonomy": taxonomies, "taxonomy_term": terms}


def _aliss_term(slug: str, name: str, parent_id: str | None, description: str | None) -> dict[str, Any]:
    return {"id": aliss_category_id(slug), "code": ALISS_CATEGORY + slug, "name": name, "term": name,
            "description": description, "parent_id": parent_id, "taxonomy": ALISS_TAXONOMY,
            "taxonomy_id": stable_id("taxonomy", ALISS_TAXONOMY), "language": "en"}


def install_aliss(conn: Connection) -> int:
    """Write ALISS's category tree and groups into the taxonomy tables (as an ALISS import does);
    running it again changes nothing."""
    rows = aliss_taxonomy_rows()
    upsert(conn, Taxonomy.__table__, rows["taxonomy"])
    upsert(conn, TaxonomyTerm.__table__, rows["taxonomy_term"])
    changes.bump(conn, changes.DIRECTORY)
    return len(rows["taxonomy_term"])
