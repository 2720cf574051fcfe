"""What a gap request costs a shared server: bounded and cached, beside the unbounded analysis.

    .venv/bin/python benchmarks/gap_requests.py [--services 150000]

All 6,976 Scottish data zones (centroids, SIMD 2020v2 populations from ../shared) and
synthetic services at real postcode points. For each request, in one run:

- the baseline: ``gap_analysis`` as the web app ran it before it was bounded (every
  home-service pair listed, then the measures), timed once;
- the bounded web request (``GapRequests.analyse``, what /api/gaps calls): refused
  before the work when it would weigh more than MAX_PAIRS pairs, else computed;
- the same request again, answered from the cache while the data is unchanged.

Also prints the pairs weighed per second of the full analysis, which MAX_PAIRS rests on.
Writes benchmarks/results/gap_requests.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

from common import opendata, write_results
from synthetic import scotland_for_gaps

from assetmap.gap_requests import MAX_PAIRS, GapRequests
from assetmap.gaps import GapTooBig, demand_points, gap_analysis, pairs_in_reach, supply
from assetmap.taxonomy import load

REQUESTS = {  # name: (needs, catchment in metres)
    "one need, 1 km": (["food"], 1000.0),
    "three needs, 5 km": (["food", "money", "loneliness"], 5000.0),
    "three needs, 50 km": (["food", "money", "loneliness"], 50_000.0),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=150_000)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    data, vocabulary = opendata(), load()
    results: dict[str, dict[str, float | int | str]] = {}
    with tempfile.TemporaryDirectory() as folder:
        engine = scotland_for_gaps(Path(folder) / "gaps.sqlite", args.services, data)
        with engine.connect() as conn:
            places, offer = demand_points(conn, "datazone2011", None, None), supply(conn, vocabulary)
        for name, (needs, catchment) in REQUESTS.items():
            terms = [vocabulary.match(n)[0] for n in needs]
            started = time.perf_counter()
            pairs = pairs_in_reach(places, offer, terms, catchment)
            weighing = time.perf_counter() - started
            started = time.perf_counter()
            gap_analysis(engine, needs, catchment_metres=catchment)
            baseline = time.perf_counter() - started
            bounded = GapRequests(engine)
            started = time.perf_counter()
            try:
                bounded.analyse(needs, catchment_metres=catchment)
                answer = "computed"
            except GapTooBig:
                answer = "refused"
            first = time.perf_counter() - started
            started = time.perf_counter()
            if answer == "computed":
                bounded.analyse(needs, catchment_metres=catchment)
            again = time.perf_counter() - started
            results[name] = {
                "pairs": pairs, "weighing_seconds": round(weighing, 3), "baseline_seconds": round(baseline, 2),
                "bounded": answer, "bounded_seconds": round(first, 3),
                "cached_seconds": round(again, 4) if answer == "computed" else "",
                "baseline_over_bounded": round(baseline / first, 1),
                "pairs_per_second_baseline": round(pairs / baseline),
            }
            r = results[name]
            print(f"{name}: {pairs:,} pairs (weighed in {weighing:.2f} s); unbounded analysis {baseline:.1f} s; "
                  f"bounded request {answer} in {first:.2f} s ({r['baseline_over_bounded']}x sooner)"
                  + (f", again from the cache in {again * 1000:.1f} ms" if answer == "computed" else "")
                  + f"; {r['pairs_per_second_baseline']:,} pairs/s", flush=True)
        engine.dispose()
    print(f"written to {write_results('gap_requests', {'services': args.services, 'max_pairs': MAX_PAIRS, 'results': results})}")


if __name__ == "__main__":
    main()
