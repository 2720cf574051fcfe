"""Planning new provision for Glasgow: assetmap's exact maximal covering against spopt's MCLP.

    .venv/bin/python benchmarks/plan.py [--database-url URL] [--sites 5,10,20] [--spopt-time-limit 300]

Glasgow City, need food (Give Food's food banks and the demo), everyone as the target group,
all of Glasgow's live postcodes as candidate sites, a 20-minute walk (1,231 m straight line).
For each number of sites, one run side by side:

- assetmap: ``planning.plan`` end to end from the database (its caches emptied first), with the
  exact objective, whether HiGHS proved it optimal, the greedy answer and the LP bound;
- spopt: ``MCLP.from_cost_matrix`` on identical inputs: the people with no food bank in reach
  (one row per postcode point, weighted by its share of the data zone's population, exactly
  the demand assetmap solves for), every live postcode as a candidate, the dense matrix of
  straight-line BNG distances between them (scipy ``cdist``), ``service_radius`` the same reach,
  solved by PuLP's CBC; timed to build (distances and model) and to solve.

Without --database-url a SpatiaLite database is made and loaded with the open data (a minute).
Writes benchmarks/results/plan.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pulp
from common import opendata, write_results
from scipy.spatial.distance import cdist
from spopt.locate import MCLP

from assetmap import planning, taxonomy
from assetmap.db import connect, init_database
from assetmap.demo import load_demo
from assetmap.starter import load_open_data


def _inputs(engine, question):
    """The very arrays plan() solves over: unreached people (points, weights) and candidates."""
    with engine.connect() as conn:
        term = planning._term(question.need, taxonomy.load())
        people = planning._people(engine, conn, question, term, planning.reach_metres(question), lambda _: None)
        found = planning._candidates(engine, conn, question.candidates, people)
    who = people.unreached
    return (np.column_stack([people.x[who], people.y[who]]), people.weight[who],
            np.column_stack([found.x, found.y]), found.keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a database already holding the open data and the demo")
    parser.add_argument("--sites", default="5,10,20")
    parser.add_argument("--spopt-time-limit", type=float, default=300.0, help="CBC's time limit per run (s)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url
        if not url:
            url = f"sqlite:///{Path(folder) / 'plan.sqlite'}"
            engine = connect(url, create=True)
            init_database(engine)
            load_demo(engine)
            load_open_data(engine, opendata().parent, say=lambda _: None)
            engine.dispose()
        engine = connect(url)
        results: dict[str, dict[str, object]] = {}
        for sites in [int(s) for s in args.sites.split(",")]:
            question = planning.PlanQuestion(need="food", locality="Glasgow City", sites=sites)
            planning._cache.clear()
            start = time.perf_counter()
            ours = planning.plan(engine, question)
            ours_seconds = time.perf_counter() - start
            people, weight, candidates, keys = _inputs(engine, question)
            start = time.perf_counter()
            distances = cdist(people, candidates)
            model = MCLP.from_cost_matrix(distances, weight, service_radius=planning.reach_metres(question),
                                          p_facilities=sites)
            build = time.perf_counter() - start
            del distances
            start = time.perf_counter()
            model.problem.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=args.spopt_time_limit))
            solve = time.perf_counter() - start
            status = pulp.LpStatus[model.problem.status]
            theirs = pulp.value(model.problem.objective)
            chosen = [keys[j] for j, v in enumerate(model.fac_vars) if (v.value() or 0) > 0.5]
            results[str(sites)] = {
                "people_unreached_points": len(people), "candidates": len(candidates),
                "assetmap_seconds": round(ours_seconds, 2), "assetmap_objective": round(ours.objective, 2),
                "assetmap_proved_optimal": ours.optimal, "assetmap_gap": round(ours.gap, 6),
                "greedy_objective": round(ours.greedy_objective, 2), "lp_bound": round(ours.lp_bound, 2),
                "lp_gap": round(ours.lp_gap, 6), "assetmap_sites": [s.key for s in ours.sites],
                "spopt_build_seconds": round(build, 2), "spopt_solve_seconds": round(solve, 2),
                "spopt_status": status, "spopt_time_limit": args.spopt_time_limit,
                "spopt_objective": round(float(theirs), 2) if theirs is not None else None,
                "spopt_sites": chosen,
                "speedup_end_to_end": round((build + solve) / ours_seconds, 1),
                "same_optimum": theirs is not None and abs(float(theirs) - ours.objective) <= 1e-6 * ours.objective,
            }
            r = results[str(sites)]
            print(f"{sites} sites: assetmap {r['assetmap_seconds']} s, {r['assetmap_objective']:,} people "
                  f"({'proved optimal' if ours.optimal else f'not proved, gap {ours.gap:.2%}'}); greedy "
                  f"{r['greedy_objective']:,}; LP bound {r['lp_bound']:,}. spopt MCLP build {build:.1f} s + CBC "
                  f"{solve:.1f} s ({status}), {r['spopt_objective']} people -> {r['speedup_end_to_end']}x; "
                  f"same optimum: {r['same_optimum']}", flush=True)
            print(f"  assetmap sites: {', '.join(r['assetmap_sites'])}")  # type: ignore[arg-type]
            print(f"  spopt sites:    {', '.join(chosen)}", flush=True)
            # written after each number of sites, so a long spopt run leaves what was measured
            written = write_results("plan", {"results": results, "need": "food", "locality": "Glasgow City",
                                             "walk_minutes": 20})
        engine.dispose()
    print(f"written to {written}")


if __name__ == "__main__":
    main()
