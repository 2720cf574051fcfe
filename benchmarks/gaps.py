"""Gap analysis for all 6,976 Scottish data zones, against PySAL access on the same inputs.

    .venv/bin/python benchmarks/gaps.py [--sizes 10000,100000]

Areas and populations are SIMD 2020v2's data zones and their centroids (../shared);
services are synthetic, at real postcode points, with 15 needs and 26 activity
types. For each size: the full assetmap analysis for every need (reading the
database, k-d tree pairs within 1 km, nearest distances, counts, 2SFCA, E2SFCA,
flags), and PySAL `access` computing 2SFCA and E2SFCA from the very same demand,
supply and cost pairs (pairs given to it ready-made, so it is timed on the measures
alone). Targets (issue 7): all needs at 100k services under 5 s; 10x faster than access.
Writes benchmarks/results/gaps.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from access import Access, weights
from common import opendata, write_results
from scipy.spatial import cKDTree
from synthetic import scotland_for_gaps

from assetmap.gaps import (
    demand_points,
    gap_analysis,
    step_weights,
    supply,
    two_step_fca,
)
from assetmap.taxonomy import load

CATCHMENT = 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    data = opendata()
    vocabulary = load()
    results: dict[str, dict[str, float]] = {}
    for size in [int(s) for s in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory() as folder:
            engine = scotland_for_gaps(Path(folder) / "gaps.sqlite", size, data)
            start = time.perf_counter()
            result = gap_analysis(engine)
            ours = time.perf_counter() - start
            areas = result["area_code"].nunique()
            with engine.connect() as conn:
                people = demand_points(conn, "datazone2011", None, None)
                offer = supply(conn, vocabulary)
            demand_xy = np.column_stack([people.points_x, people.points_y])
            theirs = ours_measures = 0.0
            largest_difference = 0.0
            for need in vocabulary.needs:
                points = offer.for_term(need.slug)
                supply_xy = np.column_stack([offer.x[points], offer.y[points]])
                pairs = cKDTree(demand_xy).sparse_distance_matrix(cKDTree(supply_xy), CATCHMENT, output_type="ndarray")
                t = time.perf_counter()
                plain = two_step_fca(people.points_population, np.ones(len(points)), pairs["i"], pairs["j"],
                                     np.ones(len(pairs)))
                enhanced = two_step_fca(people.points_population, np.ones(len(points)), pairs["i"], pairs["j"],
                                        step_weights(CATCHMENT)(pairs["v"]))
                ours_measures += time.perf_counter() - t
                demand = pd.DataFrame({"origin": np.arange(len(demand_xy)), "pop": people.points_population})
                offered = pd.DataFrame({"dest": np.arange(len(points)), "n": np.ones(len(points))})
                costs = pd.DataFrame({"origin": pairs["i"], "dest": pairs["j"], "m": pairs["v"]})
                t = time.perf_counter()
                model = Access(demand_df=demand, demand_index="origin", demand_value="pop", supply_df=offered,
                               supply_index="dest", supply_value="n", cost_df=costs, cost_origin="origin",
                               cost_dest="dest", cost_name="m")
                a = model.two_stage_fca(name="a", max_cost=CATCHMENT).iloc[:, 0]
                fn = weights.step_fn({CATCHMENT / 3: 1.0, 2 * CATCHMENT / 3: 0.68, CATCHMENT: 0.22})
                b = model.enhanced_two_stage_fca(name="b", max_cost=CATCHMENT, weight_fn=fn).iloc[:, 0]
                theirs += time.perf_counter() - t
                a = a.reindex(range(len(demand_xy))).fillna(0).to_numpy()
                b = b.reindex(range(len(demand_xy))).fillna(0).to_numpy()
                finite = np.isfinite(a) & np.isfinite(b)
                largest_difference = max(largest_difference, float(np.abs(plain - a)[finite].max(initial=0)),
                                         float(np.abs(enhanced - b)[finite].max(initial=0)))
            results[str(size)] = {
                "areas": areas, "needs": len(vocabulary.needs), "rows": len(result),
                "assetmap_full_analysis_seconds": round(ours, 2),
                "assetmap_2sfca_e2sfca_seconds": round(ours_measures, 3),
                "access_2sfca_e2sfca_seconds": round(theirs, 2),
                "speedup_full_vs_access": round(theirs / ours, 1),
                "speedup_measures_vs_access": round(theirs / ours_measures, 1),
                "largest_difference_from_access": largest_difference,
            }
            r = results[str(size)]
            print(f"{size:,} services, {areas:,} data zones, {r['needs']} needs: assetmap full analysis "
                  f"{r['assetmap_full_analysis_seconds']} s (measures alone {r['assetmap_2sfca_e2sfca_seconds']} s); "
                  f"access 2SFCA+E2SFCA {r['access_2sfca_e2sfca_seconds']} s -> {r['speedup_full_vs_access']}x "
                  f"(measures {r['speedup_measures_vs_access']}x); largest difference {largest_difference:.2e}",
                  flush=True)
            engine.dispose()
    print(f"written to {write_results('gaps', {'results': results, 'catchment_metres': CATCHMENT})}")


if __name__ == "__main__":
    main()
