"""Needs and activity types: the vocabulary that links a person's difficulties to help.

The readable source is ``assetmap/data/taxonomy.toml``, shipped inside the package
(so an installed wheel has it; ASSETMAP_TAXONOMY names another file); ``install`` puts it into the
Open Referral taxonomy tables (one taxonomy for needs, one for activity types,
activity -> need links as attributes) and the synonyms table. ``match`` turns
what a CLW types, typos included, into terms.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Connection, delete

from assetmap import changes
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
