"""The exact maximal covering solver against answers found independently of it: every choice
of sites tried on small instances, and SciPy's own MILP (HiGHS's branch and cut, which shares
none of covering's column generation, fixing or branching) on instances big enough for the
linear relaxation to be above the optimum, so that a wrong "proved optimal" would show.
(The real-data checks are in test_planning.py.)"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.spatial import cKDTree

from assetmap import covering


def _spatial(seed: int, sites: int, people: int, radius: float):
    """Candidate sites and weighted people scattered over a unit square; a site reaches the
    people within ``radius``: the overlapping discs that make the LP fractional."""
    rng = np.random.default_rng(seed)
    where = rng.random((sites, 2))
    who = rng.random((people, 2))
    weight = rng.integers(1, 100, people).astype(float)
    pairs = cKDTree(where).sparse_distance_matrix(cKDTree(who), radius, output_type="ndarray")
    cover = sparse.csr_matrix((np.ones(len(pairs)), (pairs["i"], pairs["j"])), shape=(sites, people))
    return cover, weight, (where[:, 0] * 10_000, where[:, 1] * 10_000)


def _every_choice(cover, weight, sites: int) -> float:
    dense = cover.toarray() > 0
    best = 0.0
    for choice in itertools.combinations(range(dense.shape[0]), min(sites, dense.shape[0])):
        best = max(best, float(weight[dense[list(choice)].any(axis=0)].sum()))
    return best


def _milp(cover, weight, sites: int) -> float:
    k, m = cover.shape
    links = sparse.hstack([-cover.T, sparse.identity(m)]).tocsr()
    count = np.concatenate([np.ones(k), np.zeros(m)])[None, :]
    found = milp(np.concatenate([np.zeros(k), -weight]),
                 constraints=[LinearConstraint(links, -np.inf, 0), LinearConstraint(count, -np.inf, sites)],
                 bounds=Bounds(0, 1), integrality=np.concatenate([np.ones(k), np.zeros(m)]),
                 options={"mip_rel_gap": 1e-9})
    assert found.status == 0
    return -float(found.fun)


def _check(solution: covering.Solution, cover, weight, sites: int, best: float) -> None:
    assert solution.optimal and solution.objective == pytest.approx(best, rel=1e-9, abs=1e-9)
    assert len(solution.chosen) <= sites and len(set(solution.chosen)) == len(solution.chosen)
    assert covering.reached(cover, weight, solution.chosen) == pytest.approx(solution.objective, rel=1e-12)
    assert solution.greedy <= solution.objective + 1e-9 <= solution.lp_bound * (1 + 1e-9) + 1e-9
    assert solution.bound == pytest.approx(solution.objective, rel=1e-9)


@pytest.mark.parametrize("seed", range(60))
def test_small_instances_match_every_choice_of_sites(seed):
    rng = np.random.default_rng(seed)
    sites, people = int(rng.integers(2, 13)), int(rng.integers(1, 25))
    dense = rng.random((sites, people)) < rng.uniform(0.1, 0.5)
    dense[rng.integers(sites)] = False  # a site that reaches no one
    if seed % 3 == 0 and sites > 2:
        dense[1] = dense[0]  # two sites reaching the same people
    cover = sparse.csr_matrix(dense.astype(float))
    weight = rng.integers(0, 50, people).astype(float)  # some people count for nothing
    count = int(rng.integers(1, 5))
    where = (rng.random(sites) * 5000, rng.random(sites) * 5000) if seed % 2 else None
    _check(covering.solve(cover, weight, count, where=where), cover, weight, count,
           _every_choice(cover, weight, count))


def test_instances_where_the_lp_is_above_the_optimum_match_an_independent_milp():
    searched = 0
    for seed in range(12):
        cover, weight, where = _spatial(seed, 120, 200, 0.2)
        count = (6, 8, 10)[seed % 3]
        solution = covering.solve(cover, weight, count, where=where)
        _check(solution, cover, weight, count, _milp(cover, weight, count))
        if solution.lp_bound > solution.objective * (1 + 1e-9):
            searched += 1
            assert solution.stats.get("nodes", 0) > 0  # proved by the branch and bound, not the LP alone
    assert searched >= 3  # the instances do exercise the search


def test_a_search_stopped_early_states_a_true_bound():
    cover, weight, where = _spatial(3, 150, 300, 0.15)
    best = _milp(cover, weight, 12)
    for limit in (0.0, 0.05):
        solution = covering.solve(cover, weight, 12, where=where, time_limit=limit)
        assert solution.objective <= best + 1e-9 <= solution.bound * (1 + 1e-9)
        assert solution.bound <= solution.lp_bound * (1 + 1e-9)
        assert solution.optimal == (solution.bound <= solution.objective * (1 + covering.TOLERANCE))
        assert covering.reached(cover, weight, solution.chosen) == pytest.approx(solution.objective)


def test_any_prices_bound_every_choice():
    cover, weight, _ = _spatial(7, 12, 30, 0.3)
    best = _every_choice(cover, weight, 3)
    rng = np.random.default_rng(7)
    for _ in range(50):
        bound, _, _ = covering.lagrangian(cover, weight, rng.random(len(weight)) * weight * 1.5, 3)
        assert bound >= best - 1e-9


def test_fewer_sites_than_asked_reach_everyone_they_can():
    cover = sparse.csr_matrix(np.array([[1, 1, 0], [0, 1, 1]], dtype=float))
    solution = covering.solve(cover, np.array([1.0, 2.0, 3.0]), 5)
    assert solution.optimal and solution.objective == 6.0 and sorted(solution.chosen) == [0, 1]
