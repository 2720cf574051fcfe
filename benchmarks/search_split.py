"""Where one search's time goes, part by part: what to make faster next.

    .venv/bin/python benchmarks/search_split.py [--services 1000000 | --database URL] [--queries 1000]

search.py says how fast a search is beside its baselines; this says where its time goes, on the
same synthetic directory (services at real postcode points, every Code-Point postcode loaded) or
on any database given. The people of search.py are asked in a row, after Searcher.warm():

- the whole search, timed alone;
- then other people (so that nothing the first pass kept for the minute is found again), each
  part of the search timed where it is called: a part's time includes the parts it calls, and
  each timed call adds a fraction of a microsecond;
- one k-nearest query of the largest need's k-d tree, by k, from the people's own points,
  bounded by the default reach (a 30-minute walk);
- wording one service's result not yet worded this minute (present._service), over random services.

Nothing here is a target; search.py holds the targets. Writes benchmarks/results/search_split.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import opendata, percentiles, write_results
from synthetic import people, postcode_points, search_database

import assetmap.search as search_module
from assetmap.db import connect
from assetmap.schedules import LOCAL
from assetmap.search import (
    DEFAULT_MAX_METRES,
    SERVER_FRESH_FOR,
    Query,
    Searcher,
    present,
    rank,
)
from assetmap.search.index import chord, unit_vector

# (module, function, what it is): each timed where the search calls it.
PARTS: list[tuple[Any, str, str]] = [
    (search_module, "check", "reading the query (needs typed, filters)"),
    (search_module, "where", "the postcode's place"),
    (rank, "within", "finding the in-person results"),
    (rank, "_nearest", "  k-d tree queries"),
    (rank, "_keyed", "  ordering them on the ellipsoid"),
    (rank, "result", "wording the results"),
    (present, "_service", "  a service's words (kept a minute)"),
    (rank, "_remote", "online and phone picks"),
    (rank, "area_wide", "delivered across the person's area"),
]
K_ASKED = (30, 100, 500, 4096)


def timing(spent: dict[str, list[float]]) -> Callable[[], None]:
    """Wrap every part to add its time and calls to ``spent``; returns what unwraps them."""
    originals = []
    for module, name, label in PARTS:
        original = getattr(module, name)
        spent[label] = [0.0, 0.0]

        def timed(*args: Any, _original: Any = original, _label: str = label, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                spent[_label][0] += time.perf_counter() - start
                spent[_label][1] += 1

        setattr(module, name, timed)
        originals.append((module, name, original))

    def undo() -> None:
        for module, name, original in originals:
            setattr(module, name, original)
    return undo


def split(searcher: Searcher, asked: list[Any], queries: int) -> dict[str, Any]:
    def ask(p: Any) -> None:
        searcher.search(Query(postcode=p[0], needs=tuple(p[3]), limit=10))

    for p in asked[:50]:
        ask(p)
    alone = []
    for p in asked[50:50 + queries]:
        start = time.perf_counter()
        ask(p)
        alone.append(time.perf_counter() - start)
    spent: dict[str, list[float]] = {}
    undo = timing(spent)
    try:
        for p in asked[50 + queries:50 + 2 * queries]:
            ask(p)
    finally:
        undo()
    return {"search": percentiles(alone),
            "parts_ms_per_search": {label: round(seconds / queries * 1000, 3) for label, (seconds, _) in spent.items()},
            "parts_calls_per_search": {label: round(calls / queries, 2) for label, (_, calls) in spent.items()}}


def tree_queries(searcher: Searcher, asked: list[Any]) -> dict[str, Any]:
    index = searcher.index()
    need, (tree, members) = max(index.trees.items(), key=lambda item: len(item[1][1]))
    here = [unit_vector(p[1], p[2]) for p in asked[:500]]
    bound = chord(DEFAULT_MAX_METRES)
    by_k = {}
    for k in K_ASKED:
        start = time.perf_counter()
        for point in here:
            tree.query(point, k=min(k, len(members)), distance_upper_bound=bound)
        by_k[str(k)] = round((time.perf_counter() - start) / len(here) * 1e6, 1)
    return {"need": need, "venues": len(members), "reach_metres": round(DEFAULT_MAX_METRES),
            "microseconds_per_query_by_k": by_k}


def wording(searcher: Searcher, samples: int = 20_000) -> dict[str, Any]:
    index = searcher.index()
    chosen = random.Random(5).sample(range(index.n), min(samples, index.n))
    minute = dt.datetime.now(LOCAL).replace(second=0, microsecond=0)
    index.shown.clear()
    start = time.perf_counter()
    for i in chosen:
        present._service(index, i, minute)
    return {"services": len(chosen),
            "microseconds_per_service": round((time.perf_counter() - start) / len(chosen) * 1e6, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1_000_000, help="synthetic services (default: %(default)s)")
    parser.add_argument("--database", help="an assetmap database to search instead of a synthetic one")
    parser.add_argument("--queries", type=int, default=1000, help="people per pass (default: %(default)s)")
    args = parser.parse_args()
    points = postcode_points(opendata())
    asked = people(points, 50 + 2 * args.queries)
    with tempfile.TemporaryDirectory(prefix="assetmap-split-") as folder:
        url = args.database or search_database(Path(folder), args.services, opendata(), points)
        searcher = Searcher(connect(url), fresh_for=SERVER_FRESH_FOR)
        start = time.perf_counter()
        searcher.warm()
        built = time.perf_counter() - start
        load_before = os.getloadavg()
        row = {"services": searcher.index().n, "index_build_seconds": round(built, 1),
               **split(searcher, asked, args.queries), "tree_queries": tree_queries(searcher, asked),
               "wording_a_service_not_seen_this_minute": wording(searcher)}
    print(f"{row['services']:,} services: search p50 {row['search']['p50_ms']:.2f} ms, "
          f"mean {row['search']['mean_ms']:.2f} ms")
    for label, ms in row["parts_ms_per_search"].items():
        print(f"  {label:44s} {ms:6.3f} ms a search, {row['parts_calls_per_search'][label]:5.2f} calls")
    trees = row["tree_queries"]
    print(f"  one query of the {trees['need']} tree ({trees['venues']:,} venues), by k: "
          + ", ".join(f"{k}: {us} µs" for k, us in trees["microseconds_per_query_by_k"].items()))
    print(f"  wording a service not seen this minute: "
          f"{row['wording_a_service_not_seen_this_minute']['microseconds_per_service']} µs")
    path = write_results("search_split", {**row, "load_average_1_5_15_min": {"start": load_before,
                                                                            "end": os.getloadavg()},
                                          "command": "benchmarks/search_split.py " + " ".join(sys.argv[1:])})
    print(f"written to {path}")


if __name__ == "__main__":
    main()
