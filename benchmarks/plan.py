"""Planning new provision: assetmap's maximal covering against spopt's MCLP, on identical inputs.

    .venv/bin/python benchmarks/plan.py [--database-url URL] [--sites 5,10,20] [--spopt-seconds 900]

Need food (Give Food's food banks and the demo), everyone as the target group, every live
postcode of the locality as a candidate site, a 20-minute walk (1,231 m straight line). Two
localities: Glasgow City (the issue's instance, 15,433 candidates) and Clackmannanshire (1,357
candidates, small enough for spopt to finish). For each number of sites, one run side by side:

- assetmap: ``planning.plan`` end to end from the database (its caches emptied first): the
  objective, whether HiGHS proved it optimal, greedy's answer and the bound the plan states;
- the exact LP bound: HiGHS's interior point method on the very model plan() solves (people
  and sites reaching the same people merged), to show the real gap beside the stated one;
- spopt: ``MCLP.from_cost_matrix`` (spopt's documented path for precomputed distances) on the
  same people with nothing in reach (one row per postcode point, weighted by its share of the
  data zone's population), every live postcode as a candidate, the dense matrix of straight-line
  BNG distances (scipy ``cdist``), ``service_radius`` the same reach, solved by PuLP's CBC; timed
  to build (distances and model) and to solve, in a process of its own that is stopped after
  --spopt-seconds. spopt's model build does not depend on the number of sites: when it does not
  finish for the first, it is not tried again for the others.

Without --database-url a SpatiaLite database is made and loaded with the open data (a minute).
Writes benchmarks/results/plan.json after every run, so a long spopt run leaves what was measured.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from common import opendata, write_results
from scipy import sparse
from scipy.optimize import linprog

from assetmap import planning, taxonomy
from assetmap.db import connect, init_database
from assetmap.demo import load_demo
from assetmap.starter import load_open_data

LOCALITIES = ("Glasgow City", "Clackmannanshire")
WALK_MINUTES = 20.0


def _model(engine: Any, question: planning.PlanQuestion) -> tuple[Any, Any, Any]:
    """What plan() solves over: the unreached people (points, weights), the candidates, the merged model."""
    with engine.connect() as conn:
        term = planning._term(question.need, taxonomy.load())
        people = planning._people(engine, conn, question, term, planning.reach_metres(question), lambda _: None)
        found = planning._candidates(engine, conn, question.candidates, people)
        problem = planning._problem(engine, conn, people, found, question.candidates, lambda _: None)
    who = people.unreached
    raw = (np.column_stack([people.x[who], people.y[who]]), people.weight[who], np.column_stack([found.x, found.y]))
    return raw, found.keys, problem


def _exact_lp(problem: Any, sites: int) -> tuple[float, float]:
    """The linear relaxation's optimum, solved to the end (interior point): (value, seconds)."""
    cover, weight = problem.cover.astype(float), problem.weight
    k, m = cover.shape
    rows = sparse.vstack([sparse.hstack([-cover.T, sparse.identity(m)]),
                          sparse.csr_matrix(np.concatenate([np.ones(k), np.zeros(m)])[None, :])]).tocsr()
    start = time.perf_counter()
    solved = linprog(np.concatenate([np.zeros(k), -weight]), A_ub=rows, b_ub=np.concatenate([np.zeros(m), [sites]]),
                     bounds=(0, 1), method="highs-ipm")
    return -float(solved.fun), time.perf_counter() - start


def _spopt_child(inputs: str, sites: int, reach: float, cbc_seconds: float) -> None:
    """In its own process: spopt's MCLP from the saved inputs; prints one JSON line."""
    import pulp
    from scipy.spatial.distance import cdist
    from spopt.locate import MCLP

    saved = np.load(inputs)
    start = time.perf_counter()
    distances = cdist(saved["people"], saved["candidates"])
    model = MCLP.from_cost_matrix(distances, saved["weight"], service_radius=reach, p_facilities=sites)
    build = time.perf_counter() - start
    print(json.dumps({"build_seconds": build}), flush=True)
    del distances
    start = time.perf_counter()
    model.problem.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=cbc_seconds))
    solve = time.perf_counter() - start
    chosen = [int(j) for j, v in enumerate(model.fac_vars) if (v.value() or 0) > 0.5]
    objective = pulp.value(model.problem.objective)
    print(json.dumps({"build_seconds": build, "solve_seconds": solve, "status": pulp.LpStatus[model.problem.status],
                      "objective": None if objective is None else float(objective), "chosen": chosen}), flush=True)


def _spopt(inputs: str, sites: int, reach: float, seconds: float) -> dict[str, Any]:
    """spopt in a process group of its own (CBC runs as a child of it), stopped after ``seconds``."""
    command = [sys.executable, __file__, "--spopt-child", inputs, str(sites), repr(reach), repr(seconds)]
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, _ = child.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        out, _ = child.communicate()
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    found = lines[-1] if lines else {}
    found["finished"] = "objective" in found
    found["wall_seconds"] = time.perf_counter() - started
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a database already holding the open data and the demo")
    parser.add_argument("--sites", default="5,10,20")
    parser.add_argument("--localities", default=",".join(LOCALITIES))
    parser.add_argument("--spopt-seconds", type=float, default=900.0,
                        help="wall-clock limit for each spopt run, building and solving (s)")
    parser.add_argument("--spopt-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    if args.spopt_child:
        inputs, sites, reach, seconds = args.spopt_child
        _spopt_child(inputs, int(sites), float(reach), float(seconds))
        return
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
        results: dict[str, dict[str, Any]] = {}
        for locality in args.localities.split(","):
            spopt_builds = True
            for sites in [int(s) for s in args.sites.split(",")]:
                question = planning.PlanQuestion(need="food", locality=locality, sites=sites,
                                                 walk_minutes=WALK_MINUTES)
                planning._cache.clear()
                start = time.perf_counter()
                ours = planning.plan(engine, question)
                ours_seconds = time.perf_counter() - start
                (people, weight, candidates), keys, problem = _model(engine, question)
                lp, lp_seconds = _exact_lp(problem, sites)
                reach = planning.reach_metres(question)
                inputs = str(Path(folder) / "inputs.npz")
                np.savez(inputs, people=people, weight=weight, candidates=candidates)
                theirs = _spopt(inputs, sites, reach, args.spopt_seconds) if spopt_builds else \
                    {"finished": False, "not_run": "the model build did not finish for fewer sites"}
                spopt_builds = "build_seconds" in theirs
                objective = theirs.get("objective")
                row = {
                    "locality": locality, "sites": sites, "walk_minutes": WALK_MINUTES, "reach_metres": round(reach, 1),
                    "candidates": len(candidates), "people_points_unreached": len(people),
                    "site_classes": ours.site_classes, "people_classes": ours.people_classes,
                    "coverage_pairs": int(problem.cover.nnz),
                    "assetmap": {"seconds": round(ours_seconds, 2), "objective": round(ours.objective, 2),
                                 "proved_optimal": ours.optimal, "stated_gap": round(ours.gap, 6),
                                 "stated_bound": round(ours.lp_bound, 2), "sites": [s.key for s in ours.sites]},
                    "greedy": {"objective": round(ours.greedy_objective, 2)},
                    "lp": {"bound": round(lp, 2), "seconds": round(lp_seconds, 1),
                           "gap_to_assetmap": round((lp - ours.objective) / lp, 6) if lp > 0 else 0.0},
                    "spopt": {**{k: round(v, 2) if isinstance(v, float) else v for k, v in theirs.items()
                                 if k != "chosen"},
                              "sites": [keys[j] for j in theirs.get("chosen", [])],
                              "limit_seconds": args.spopt_seconds},
                }
                if objective is not None:
                    row["same_optimum"] = abs(objective - ours.objective) <= 1e-6 * max(ours.objective, 1.0)
                spopt_seconds = theirs.get("wall_seconds", args.spopt_seconds) if theirs.get("finished") else None
                row["speedup_end_to_end"] = round(spopt_seconds / ours_seconds, 1) if spopt_seconds else \
                    f"more than {args.spopt_seconds / ours_seconds:.0f}x (spopt stopped at {args.spopt_seconds:g} s)"
                results[f"{locality}/{sites}"] = row
                print(f"{locality}, {sites} sites: assetmap {ours_seconds:.1f} s, {ours.objective:,.0f} people "
                      f"({'proved optimal' if ours.optimal else f'not proved, stated gap {ours.gap:.2%}'}); "
                      f"greedy {ours.greedy_objective:,.0f}; LP {lp:,.0f} ({lp_seconds:.0f} s, gap "
                      f"{row['lp']['gap_to_assetmap']:.2%}). spopt: "
                      + (f"build {theirs['build_seconds']:.1f} s + CBC {theirs['solve_seconds']:.1f} s "
                         f"({theirs['status']}), {objective:,.0f} people, same optimum {row.get('same_optimum')}"
                         if theirs.get("finished") else
                         f"did not finish ({theirs.get('not_run') or 'stopped at %g s' % args.spopt_seconds}"
                         + (f", build {theirs['build_seconds']:.0f} s" if 'build_seconds' in theirs else "") + ")")
                      + f" -> {row['speedup_end_to_end']}{'x' if spopt_seconds else ''}", flush=True)
                written = write_results("plan", {"need": "food", "target_group": "everyone", "results": results})
        engine.dispose()
    print(f"written to {written}")


if __name__ == "__main__":
    main()
