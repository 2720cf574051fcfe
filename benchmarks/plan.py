"""Planning new provision: assetmap's maximal covering against spopt's MCLP, on identical inputs.

    .venv/bin/python benchmarks/plan.py [--database-url URL] [--sites 5,10,20] [--spopt-seconds 900]

Need food (Give Food's food banks and the demo), everyone as the target group, every live
postcode of the locality as a candidate site, a 20-minute walk (1,231 m straight line). Two
localities: Glasgow City (the issue's instance, 15,433 candidates) and Clackmannanshire (1,357
candidates, small enough for spopt to finish). For each number of sites, one run side by side:

- assetmap: ``planning.plan`` end to end from the database, its caches emptied first (reading
  people and candidates, building the merged model, solving): the objective, whether it is
  proved optimal, greedy's answer and the bound the plan states. Then, apart, the model build
  timed alone (caches emptied again) and ``covering.solve`` on that model, for where the time
  goes (the LP's column generation, the heuristics, fixing, the branch and bound);
- the exact LP bound: HiGHS's interior point method on the very model plan() solves (people
  and sites reaching the same people merged), independently of assetmap's column generation,
  to show the real gap beside the stated one;
- spopt: ``MCLP.from_cost_matrix`` (spopt's documented path for precomputed distances) on the
  same people with nothing in reach (one row per postcode point, weighted by its share of the
  data zone's population), every live postcode as a candidate, the dense matrix of straight-line
  BNG distances (scipy ``cdist``), ``service_radius`` the same reach, solved by PuLP's CBC; timed
  to build (distances and model) and to solve, in a process of its own that is stopped after
  --spopt-seconds (and kept under --spopt-memory-gb). spopt runs once per locality for the
  first number of sites; when that run does not finish, it is not tried for the others.

Targets (issue 16): the same optimum as spopt; 20 sites solved exactly in under 5 s; at least
10 times faster than spopt end to end. Each row records the machine's load average.
Without --database-url a SpatiaLite database is made and loaded with the open data (a minute).
Writes benchmarks/results/plan.json after every run, so a long spopt run leaves what was measured.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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

from assetmap import covering, planning, taxonomy
from assetmap.db import connect, init_database
from assetmap.demo import load_demo
from assetmap.starter import load_open_data

LOCALITIES = ("Glasgow City", "Clackmannanshire")
WALK_MINUTES = 20.0
TARGET_SECONDS = 5.0  # 20 sites solved exactly, end to end
TARGET_SPEEDUP = 10.0


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


def _spopt_child(inputs: str, sites: int, reach: float, cbc_seconds: float, memory_gb: float) -> None:
    """In its own process: spopt's MCLP from the saved inputs; prints one JSON line."""
    limit = int(memory_gb * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))  # CBC, its child, inherits the limit
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


def _spopt(inputs: str, sites: int, reach: float, seconds: float, memory_gb: float) -> dict[str, Any]:
    """spopt in a process group of its own (CBC runs as a child of it), stopped after ``seconds``."""
    command = [sys.executable, __file__, "--spopt-child", inputs, str(sites), repr(reach), repr(seconds),
               repr(memory_gb)]
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
    try:
        out, err = child.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        out, err = child.communicate()
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    found = lines[-1] if lines else {}
    found["finished"] = "objective" in found
    found["wall_seconds"] = time.perf_counter() - started
    if not found["finished"] and "MemoryError" in err:
        found["stopped"] = f"out of its {memory_gb:g} GB memory allowance"
    elif not found["finished"]:
        found["stopped"] = f"stopped at {seconds:g} s"
    return found


def _ours(engine: Any, question: planning.PlanQuestion) -> tuple[planning.Plan, dict[str, Any]]:
    """plan() end to end from cold caches; then the model build alone and the solve's stages."""
    planning._cache.clear()
    load = os.getloadavg()[0]
    start = time.perf_counter()
    result = planning.plan(engine, question)
    seconds = time.perf_counter() - start
    planning._cache.clear()
    start = time.perf_counter()
    _, _, problem = _model(engine, question)
    build = time.perf_counter() - start
    solution = covering.solve(problem.cover, problem.weight, question.sites, where=problem.where)
    stages = {key: value for key, value in solution.stats.items() if not key.endswith("_cpu")}
    return result, {"seconds": round(seconds, 2), "load_average": round(load, 1), "model_build_seconds": round(build, 2),
                    "solve_stages": stages, "proved_optimal": result.optimal, "objective": round(result.objective, 2),
                    "stated_gap": round(result.gap, 6), "lp_bound": round(result.lp_bound, 2),
                    "sites": [s.key for s in result.sites]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a database already holding the open data and the demo")
    parser.add_argument("--sites", default="5,10,20")
    parser.add_argument("--localities", default=",".join(LOCALITIES))
    parser.add_argument("--spopt-seconds", type=float, default=900.0,
                        help="wall-clock limit for each spopt run, building and solving (s)")
    parser.add_argument("--spopt-memory-gb", type=float, default=10.0, help="memory allowed to spopt and CBC")
    parser.add_argument("--spopt-child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    if args.spopt_child:
        inputs, sites, reach, seconds, memory = args.spopt_child
        _spopt_child(inputs, int(sites), float(reach), float(seconds), float(memory))
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
            spopt_first: dict[str, Any] | None = None
            for sites in [int(s) for s in args.sites.split(",")]:
                question = planning.PlanQuestion(need="food", locality=locality, sites=sites,
                                                 walk_minutes=WALK_MINUTES)
                ours, mine = _ours(engine, question)
                (people, weight, candidates), keys, problem = _model(engine, question)
                lp, lp_seconds = _exact_lp(problem, sites)
                reach = planning.reach_metres(question)
                inputs = str(Path(folder) / "inputs.npz")
                np.savez(inputs, people=people, weight=weight, candidates=candidates)
                if spopt_first is None or spopt_first.get("finished"):
                    theirs = _spopt(inputs, sites, reach, args.spopt_seconds, args.spopt_memory_gb)
                    spopt_first = spopt_first or theirs
                else:
                    theirs = {"finished": False, "not_run": f"it did not finish for {spopt_first['sites_asked']} sites "
                                                           f"({spopt_first.get('stopped')})"}
                theirs.setdefault("sites_asked", sites)
                objective = theirs.get("objective")
                row: dict[str, Any] = {
                    "locality": locality, "sites": sites, "walk_minutes": WALK_MINUTES, "reach_metres": round(reach, 1),
                    "candidates": len(candidates), "people_points_unreached": len(people),
                    "site_classes": ours.site_classes, "people_classes": ours.people_classes,
                    "coverage_pairs": int(problem.cover.nnz),
                    "assetmap": mine,
                    "greedy": {"objective": round(ours.greedy_objective, 2)},
                    "lp": {"bound": round(lp, 2), "seconds": round(lp_seconds, 1),
                           "same_as_assetmap_lp": abs(lp - ours.lp_bound) <= 1e-6 * max(lp, 1.0),
                           "gap_to_assetmap": round((lp - ours.objective) / lp, 6) if lp > 0 else 0.0},
                    "spopt": {**{k: round(v, 2) if isinstance(v, float) else v for k, v in theirs.items()
                                 if k != "chosen"},
                              "sites": [keys[j] for j in theirs.get("chosen", [])],
                              "limit_seconds": args.spopt_seconds},
                }
                if objective is not None:
                    row["same_optimum"] = abs(objective - ours.objective) <= 1e-6 * max(ours.objective, 1.0)
                spopt_seconds = theirs.get("wall_seconds") if theirs.get("finished") else None
                row["speedup_end_to_end"] = round(spopt_seconds / mine["seconds"], 1) if spopt_seconds else \
                    f"more than {args.spopt_seconds / mine['seconds']:.0f}x (spopt did not finish in {args.spopt_seconds:g} s)"
                exact_in_time = ours.optimal and mine["seconds"] < TARGET_SECONDS
                row["targets"] = {"exact_under_5_s": exact_in_time if sites == 20 else None,
                                  "same_optimum_as_spopt": row.get("same_optimum"),
                                  "ten_times_faster": (spopt_seconds / mine["seconds"] >= TARGET_SPEEDUP) if spopt_seconds
                                  else (args.spopt_seconds / mine["seconds"] >= TARGET_SPEEDUP)}
                results[f"{locality}/{sites}"] = row
                stages = mine["solve_stages"]
                print(f"{locality}, {sites} sites: assetmap {mine['seconds']:.2f} s end to end "
                      f"(model {mine['model_build_seconds']:.2f} s; LP {stages.get('lp', 0):.2f} s in "
                      f"{stages.get('lp_rounds', 0)} rounds, search {stages.get('search', 0):.2f} s, "
                      f"{stages.get('nodes', 0)} nodes; load {mine['load_average']})"
                      + (f" [target under {TARGET_SECONDS:g} s: {'met' if exact_in_time else 'NOT met'}]"
                         if sites == 20 else "")
                      + f", {ours.objective:,.2f} people "
                      f"({'proved optimal' if ours.optimal else f'not proved, stated gap {ours.gap:.3%}'}); "
                      f"greedy {ours.greedy_objective:,.2f} ({ours.greedy_objective / ours.objective:.4f}x); "
                      f"LP {lp:,.2f} by IPM in {lp_seconds:.0f} s ({'equals' if row['lp']['same_as_assetmap_lp'] else 'differs from'}"
                      f" assetmap's {ours.lp_bound:,.2f}; optimum {row['lp']['gap_to_assetmap']:.3%} below it). spopt: "
                      + (f"build {theirs['build_seconds']:.1f} s + CBC {theirs['solve_seconds']:.1f} s "
                         f"({theirs['status']}), {objective:,.2f} people, same optimum {row.get('same_optimum')}"
                         if theirs.get("finished") else
                         f"did not finish ({theirs.get('not_run') or theirs.get('stopped')}"
                         + (f", build {theirs['build_seconds']:.0f} s" if 'build_seconds' in theirs else "") + ")")
                      + f" -> {row['speedup_end_to_end']}{'x' if spopt_seconds else ''} [target {TARGET_SPEEDUP:g}x]",
                      flush=True)
                written = write_results("plan", {"need": "food", "target_group": "everyone", "results": results})
        engine.dispose()
    print(f"written to {written}")


if __name__ == "__main__":
    main()
