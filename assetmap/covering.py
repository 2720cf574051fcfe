"""Maximal covering, solved exactly: the P site classes whose cover reaches the most people.

The model (Church and ReVelle 1974) over a 0/1 cover matrix C (site classes x people classes,
weights w):  max sum_i w_i y_i  s.t.  y_i <= sum_{j reaches i} x_j,  sum_j x_j <= P,
0 <= x, y <= 1, x integer.

Why not hand it whole to a MILP solver: on Glasgow's food banks (13,430 site classes x 8,354
people classes, 3.8M pairs) HiGHS takes minutes. The linear relaxation is tight (0.06% above
the optimum at 20 sites), but slow to solve whole, its dual massively degenerate. So:

1. the linear relaxation by column generation: a master LP over a few hundred sites, people
   grouped by which of those sites reach them (rows split as sites join, the simplex basis
   carried over), priced over every site with one sparse product;
2. a strong answer: greedy, then branch and bound over the sites the LP uses, then swaps;
3. sites set aside that provably cannot be in a better answer (the Lagrangian bound of any
   answer holding them is below the one found: reduced-cost fixing);
4. branch and bound over the rest, warm-started from the master's basis, with a Lagrangian
   bound and fixing at every node.

Every bound stated is a Lagrangian bound computed here from the solver's prices: for any
prices 0 <= p_i <= w_i on people, no choice of P sites reaches more than
sum_i (w_i - p_i) + the P largest sums of p over the people a site reaches. So a bound never
rests on a solver's tolerances, and "optimal" means no answer is better by more than
``TOLERANCE`` of the objective.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import highspy
import numpy as np
from scipy import sparse

TOLERANCE = 1e-9  # relative: a bound this close above the answer proves it optimal
_EPS = 1e-9  # reduced prices below this are zero
_PER_CELL = 2  # columns priced into the master per 1.5 km cell of the locality, each round
_CELL_METRES = 1500.0
_GREEDY_START = 3  # the master starts with greedy's first 3 P sites
_DOMINANCE_LIMIT = 2500  # sites up to which dominated ones are looked for (a product of their cover with itself)
_SUPPORT_NODES = 2000
_NARROW = 0.6  # a node whose allowed sites are fewer than this share of its master's gets a master of its own  # the heuristic's branch and bound over the LP's support stops here


@dataclass
class Solution:
    chosen: list[int]  # site classes
    objective: float
    greedy: float
    lp_bound: float  # the linear relaxation's optimum (lp_solved), else the best Lagrangian bound found
    bound: float  # the best proved upper bound on the optimum: the objective itself when optimal
    optimal: bool
    lp_solved: bool = True
    stats: dict[str, float] = field(default_factory=dict)  # seconds per stage, sizes: for benchmarks


# --- small pieces --------------------------------------------------------------------------


def reached(cover: sparse.csr_matrix, weight: np.ndarray, chosen: Sequence[int]) -> float:
    """People the chosen sites reach together."""
    if not len(chosen):
        return 0.0
    hit = np.zeros(cover.shape[1], dtype=bool)
    for c in chosen:
        hit[cover.indices[cover.indptr[c]:cover.indptr[c + 1]]] = True
    return float(weight[hit].sum())


def greedy(cover: sparse.csr_matrix, weight: np.ndarray, sites: int,
           among: Sequence[int] | None = None) -> tuple[list[int], list[float]]:
    """One best site at a time (by people newly reached); stops when no site adds anyone.
    A site's gain only shrinks as others are chosen, so after each choice only the few sites
    whose last known gain is highest are counted again, unless one of the rest might win."""
    pool = np.arange(cover.shape[0]) if among is None else np.asarray(among, dtype=np.int64)
    matrix = cover if among is None else cover[pool].tocsr()
    left = weight.astype(float).copy()
    known = matrix @ left  # upper bounds on each site's gain
    chosen: list[int] = []
    gains: list[float] = []
    few = min(256, len(pool))
    taken = np.zeros(len(pool), dtype=bool)
    while len(chosen) < min(sites, len(pool)):
        top = np.argpartition(-known, few - 1)[:few]
        rest = np.delete(known, top).max(initial=-np.inf)
        known[top] = matrix[top] @ left
        best = int(top[np.argmax(known[top])])
        if known[best] < rest:  # one of the rest might win: count them all
            known = matrix @ left
            known[taken] = -1.0
            best = int(np.argmax(known))
        if known[best] <= 0:
            break
        chosen.append(int(pool[best]))
        gains.append(float(known[best]))
        left[matrix.indices[matrix.indptr[best]:matrix.indptr[best + 1]]] = 0.0
        known[best] = -1.0
        taken[best] = True
    return chosen, gains


def swapped(cover: sparse.csr_matrix, weight: np.ndarray, chosen: Sequence[int],
            seconds: float = 10.0) -> tuple[list[int], float]:
    """The chosen sites improved by swaps: while moving one site elsewhere reaches more people,
    make the best such move. A pass is one product of the cover with a vector (who each site
    would add) and one with the people only one chosen site reaches (who it would keep)."""
    sites = [int(c) for c in chosen]
    if not sites:
        return sites, 0.0
    k, m = cover.shape
    count = np.bincount(cover[sites].indices, minlength=m)
    stop = time.perf_counter() + seconds
    while time.perf_counter() < stop:
        value = float(weight[count > 0].sum())
        gain = cover @ np.where(count == 0, weight, 0.0)  # adding j
        owner = np.full(m, -1, dtype=np.int64)
        for position, site in enumerate(sites):
            mine = cover.indices[cover.indptr[site]:cover.indptr[site + 1]]
            owner[mine[count[mine] == 1]] = position
        alone = np.nonzero(owner >= 0)[0]
        loss = np.bincount(owner[alone], weights=weight[alone], minlength=len(sites))
        # kept[j, s]: people only site s reaches whom j reaches too (not lost when s moves to j)
        only = sparse.csr_matrix((weight[alone], (alone, owner[alone])), shape=(m, len(sites)))
        kept = (cover @ only).toarray()
        change = gain[:, None] + kept - loss[None, :]
        change[sites, :] = -np.inf
        j, position = (int(i) for i in np.unravel_index(int(np.argmax(change)), change.shape))
        if change[j, position] <= 1e-9 * max(value, 1.0):
            break
        old = sites[position]
        count[cover.indices[cover.indptr[old]:cover.indptr[old + 1]]] -= 1
        count[cover.indices[cover.indptr[j]:cover.indptr[j + 1]]] += 1
        sites[position] = j
    return sites, float(weight[count > 0].sum())


def lagrangian(cover: sparse.csr_matrix, weight: np.ndarray, prices: np.ndarray, sites: int,
               values: np.ndarray | None = None) -> tuple[float, np.ndarray, float]:
    """The bound sum(w - p) + the ``sites`` largest (positive) site values for prices p, the
    site values, and the smallest of those largest (what a site must beat to be among them)."""
    p = np.clip(prices, 0.0, weight)
    v = cover @ p if values is None else values
    top = np.partition(v, len(v) - sites)[len(v) - sites:] if len(v) > sites else v
    return float((weight - p).sum() + np.maximum(top, 0.0).sum()), v, float(max(top.min(), 0.0)) if len(top) else 0.0


_banner_lock = threading.Lock()
_banner_done = False


def _highs() -> highspy.Highs:
    """A quiet HiGHS: the first one made in a process prints a banner to stdout (it would break
    ``assetmap plan --json``), so that one is made with stdout pointed elsewhere."""
    global _banner_done
    with _banner_lock:
        if not _banner_done:
            saved = os.dup(1)
            try:
                with open(os.devnull, "w") as null:
                    os.dup2(null.fileno(), 1)
                    solver = highspy.Highs()
            finally:
                os.dup2(saved, 1)
                os.close(saved)
            _banner_done = True
        else:
            solver = highspy.Highs()
    solver.setOptionValue("output_flag", False)
    return solver


_BASIC = highspy.HighsBasisStatus.kBasic
_LOWER = highspy.HighsBasisStatus.kLower
_UPPER = highspy.HighsBasisStatus.kUpper


def _distinct_rows(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(keys, axis=0, return_inverse=True)`` (the same rows, in the same order), a
    few times faster: one lexsort instead of sorting the rows as opaque records."""
    order = np.lexsort(keys.T[::-1])
    ordered = keys[order]
    first = np.ones(len(keys), dtype=bool)
    first[1:] = (ordered[1:] != ordered[:-1]).any(axis=1)
    inverse = np.empty(len(keys), dtype=np.int64)
    inverse[order] = np.cumsum(first) - 1
    return ordered[first], inverse


# --- the master LP -----------------------------------------------------------------------


class _Master:
    """The linear relaxation over some sites (its columns), people grouped by which of those
    sites reach them (its rows): max sum W_r y_r, y_r <= sum x_j, sum x_j <= P. Rows are split
    as sites join; the simplex basis is carried over, so each solve starts where the last ended."""

    def __init__(self, cover: sparse.csr_matrix, weight: np.ndarray, sites: int, deadline: float):
        self.cover, self.weight, self.sites, self.deadline = cover, weight, sites, deadline
        self.columns: np.ndarray = np.zeros(0, dtype=np.int64)  # site class of each x column
        self.member = np.zeros(cover.shape[0], dtype=bool)
        self.label: np.ndarray = np.full(cover.shape[1], -1, dtype=np.int64)  # person -> row (-1: no column reaches them)
        self.rows = 0
        self.row_weight: np.ndarray = np.zeros(0)
        self.matrix = sparse.csr_matrix((0, 0))  # columns x rows, 1 where the site reaches the row's people
        self.highs = _highs()
        self.basis: Any = None
        self.lower = np.zeros(0)  # bounds of the x columns (branch and bound changes them)
        self.upper = np.zeros(0)

    def add(self, new: Sequence[int] | np.ndarray) -> int:
        """Sites join as columns (non-basic at zero), splitting the rows they cut."""
        new = np.unique(np.asarray(new, dtype=np.int64))
        new = new[~self.member[new]]
        if not len(new):
            return 0
        sub = self.cover[new]
        person = sub.indices
        column = np.repeat(np.arange(len(new)), np.diff(sub.indptr))
        counted = self.weight[person] > 0  # people no answer gains by reaching (already reached) are no row
        person, column = person[counted], column[counted]
        m = self.cover.shape[1]
        # a row's people part ways where the new sites reach some of them and not others:
        # group people by (their row, which new sites reach them), exactly, as bit masks
        words = (len(new) + 63) // 64
        bits = np.zeros((m, words), dtype=np.uint64)
        np.bitwise_or.at(bits, (person, column >> 6), np.left_shift(np.uint64(1), (column & 63).astype(np.uint64)))
        touched = np.zeros(m, dtype=bool)
        touched[person] = True
        covered = np.nonzero(touched | (self.label >= 0))[0]
        keys = np.column_stack([(self.label[covered] + 1).astype(np.uint64), bits[covered]])
        unique, inverse = _distinct_rows(keys)
        parent = unique[:, 0].astype(np.int64) - 1
        label = np.full(m, -1, dtype=np.int64)
        label[covered] = inverse
        old_rows, old_columns = self.rows, len(self.columns)
        rows = len(unique)
        # the columns already here reach every part of the rows they reached
        old = self.matrix.tocoo()
        split = parent >= 0
        parts = np.bincount(parent[split], minlength=old_rows)
        by_parent = np.nonzero(split)[0][np.argsort(parent[split], kind="stable")]
        first = np.concatenate([[0], np.cumsum(parts)[:-1]])
        repeat = parts[old.col]
        offset = np.arange(int(repeat.sum())) - np.repeat(np.cumsum(repeat) - repeat, repeat)
        old_j = np.repeat(old.row, repeat)
        old_r = by_parent[np.repeat(first[old.col], repeat) + offset]
        new_j = old_columns + column
        new_r = label[person]
        self.matrix = sparse.csr_matrix((np.ones(len(old_j) + len(new_j)),
                                         (np.concatenate([old_j, new_j]), np.concatenate([old_r, new_r]))),
                                        shape=(old_columns + len(new), rows))
        self.matrix.sum_duplicates()
        self.matrix.data[:] = 1.0
        self.label, self.rows = label, rows
        self.row_weight = np.bincount(inverse, weights=self.weight[covered], minlength=rows)
        self.columns = np.concatenate([self.columns, new])
        self.member[new] = True
        self.lower = np.concatenate([self.lower, np.zeros(len(new))])
        self.upper = np.concatenate([self.upper, np.ones(len(new))])
        self._pass(parent, old_rows, old_columns)
        return len(new)

    def _pass(self, parent: np.ndarray, old_rows: int, old_columns: int) -> None:
        k, n = self.matrix.shape
        # column j: -1 in the rows it reaches, +1 in the count row (row n); y_r: +1 in row r
        reach = np.diff(self.matrix.indptr)
        ends = np.cumsum(reach + 1)
        sites_nz = int(ends[-1]) if k else 0
        index = np.empty(sites_nz + n, dtype=np.int32)
        value = np.empty(sites_nz + n)
        inner = np.ones(sites_nz, dtype=bool)
        inner[ends - 1] = False
        index[:sites_nz][inner] = self.matrix.indices
        value[:sites_nz][inner] = -1.0
        index[ends - 1] = n
        value[ends - 1] = 1.0
        index[sites_nz:] = np.arange(n)
        value[sites_nz:] = 1.0
        start = np.concatenate([[0], ends, sites_nz + np.arange(1, n)]).astype(np.int32)
        self.highs.passModel(k + n, n + 1, len(index), 1, 1, 0.0,  # column-wise, minimise
                             np.concatenate([np.zeros(k), -self.row_weight]),
                             np.concatenate([self.lower, np.zeros(n)]), np.concatenate([self.upper, np.ones(n)]),
                             np.full(n + 1, -highspy.kHighsInf), np.concatenate([np.zeros(n), [float(self.sites)]]),
                             start, index, value, np.zeros(k + n, dtype=np.int32))
        if self.basis is not None:
            self.highs.setBasis(self._carried(parent, old_rows, old_columns))

    def _carried(self, parent: np.ndarray, old_rows: int, old_columns: int) -> Any:
        """The last basis on the split rows: a row's first part keeps its statuses; every other
        part gets one basic variable of its own (its y if the row's y was basic, else its slack),
        so the basis stays square and non-singular, and the last solution stays feasible."""
        k, n = self.matrix.shape
        old_col = np.array(self.basis.col_status, dtype=object)
        old_row = np.array(self.basis.row_status, dtype=object)
        old_y = old_col[old_columns:]
        y = np.full(n, _LOWER, dtype=object)  # people no column reached before: y at zero, the slack basic
        row = np.full(n, _BASIC, dtype=object)
        split = np.nonzero(parent >= 0)[0]
        q = parent[split]
        y[split] = old_y[q]
        was_basic = old_y[q] == _BASIC
        row[split] = np.where(was_basic, np.full(len(q), _UPPER, dtype=object), np.full(len(q), _BASIC, dtype=object))
        _, first = np.unique(q, return_index=True)
        row[split[first]] = old_row[q[first]]
        basis = highspy.HighsBasis()
        basis.col_status = np.concatenate([old_col[:old_columns], np.full(k - old_columns, _LOWER, dtype=object),
                                           y]).tolist()
        basis.row_status = np.concatenate([row, old_row[old_rows:]]).tolist()
        basis.valid = True
        return basis

    def start_from(self, x: np.ndarray, person_prices: np.ndarray, site_price: float) -> bool:
        """A basis from a solution of a larger master (x per column here, prices per person):
        HiGHS's crossover, far fewer iterations than solving again."""
        k, n = self.matrix.shape
        y = np.minimum(1.0, self.matrix.T @ x)
        inside = self.label >= 0
        row_prices = np.bincount(self.label[inside], weights=person_prices[inside], minlength=n)
        values = self.matrix @ row_prices
        solution = highspy.HighsSolution()
        solution.col_value = np.concatenate([x, y]).tolist()
        solution.row_value = np.concatenate([y - self.matrix.T @ x, [x.sum()]]).tolist()
        solution.col_dual = np.concatenate([site_price - values, row_prices - self.row_weight]).tolist()
        solution.row_dual = np.concatenate([-row_prices, [-site_price]]).tolist()
        solution.value_valid = True
        solution.dual_valid = True
        self.highs.crossover(solution)
        if self.highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return False
        self.basis = self.highs.getBasis()
        return True

    def bound(self, j: int, lower: float, upper: float) -> None:
        self.lower[j], self.upper[j] = lower, upper
        self.highs.changeColBounds(int(j), float(lower), float(upper))

    def bounds(self, columns: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> None:
        if len(columns):
            self.lower[columns], self.upper[columns] = lower, upper
            self.highs.changeColsBounds(len(columns), columns.astype(np.int32), lower.astype(float),
                                        upper.astype(float))

    def solve(self) -> tuple[str, np.ndarray, float, np.ndarray]:
        """("optimal", prices per row, price of a site, x per column); or "infeasible" (more
        sites fixed in than allowed), or "failed" (the time limit, or HiGHS's numerical trouble)."""
        h = self.highs
        # HiGHS's time limit counts all the time this solver has run so far
        h.setOptionValue("time_limit", h.getRunTime() + max(self.deadline - time.perf_counter(), 0.01))
        h.run()
        status = h.getModelStatus()
        if status != highspy.HighsModelStatus.kOptimal:
            done = "infeasible" if status == highspy.HighsModelStatus.kInfeasible else "failed"
            return done, np.zeros(self.rows), 0.0, np.zeros(len(self.columns))
        self.basis = h.getBasis()
        solution = h.getSolution()
        duals = -np.asarray(solution.row_dual)
        values = np.asarray(solution.col_value)
        return "optimal", np.clip(duals[:self.rows], 0.0, self.row_weight), max(float(duals[self.rows]), 0.0), \
            values[:len(self.columns)]

    def prices(self, row_prices: np.ndarray) -> np.ndarray:
        """Prices per person: a row's price shared in proportion to weight; people no column
        reaches at their full weight (what they are worth to a site that would reach them)."""
        p = self.weight.astype(float).copy()
        inside = self.label >= 0
        share = np.divide(row_prices, self.row_weight, out=np.zeros(self.rows), where=self.row_weight > 0)
        p[inside] = self.weight[inside] * share[self.label[inside]]
        return p


# --- the linear relaxation by column generation ------------------------------------------


@dataclass
class _Relaxation:
    master: _Master
    bound: float  # the best Lagrangian bound found (the LP's optimum when solved)
    prices: np.ndarray  # per person: the prices that gave it
    values: np.ndarray  # per site: its value at those prices
    threshold: float  # the P-th largest value
    x: np.ndarray  # per site: the master's LP solution
    value: float  # the master LP's optimum
    solved: bool  # no site priced in: the bound is the LP's optimum
    rounds: int


def _cells(where: tuple[np.ndarray, np.ndarray] | None, k: int) -> np.ndarray | None:
    if where is None:
        return None
    x, y = where
    keys = np.floor(np.asarray(x) / _CELL_METRES).astype(np.int64) * 1_000_003 + \
        np.floor(np.asarray(y) / _CELL_METRES).astype(np.int64)
    return np.unique(keys, return_inverse=True)[1].ravel()


def _priced(reduced: np.ndarray, cells: np.ndarray | None, floor: float) -> np.ndarray:
    """Sites to bring into the master: the best few per cell of the map, so each round brings
    sites from everywhere the prices are wrong rather than many near-copies of one."""
    idx = np.nonzero(reduced > floor)[0]
    if cells is None:
        return idx[np.argsort(-reduced[idx], kind="stable")[:100]]
    order = idx[np.lexsort((-reduced[idx], cells[idx]))]
    cell = cells[order]
    first = np.r_[True, cell[1:] != cell[:-1]]
    rank = np.arange(len(order)) - np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
    return order[rank < _PER_CELL]


def _relaxation(cover: sparse.csr_matrix, weight: np.ndarray, sites: int, start: Sequence[int],
                cells: np.ndarray | None, deadline: float) -> _Relaxation:
    master = _Master(cover, weight, sites, deadline)
    master.add(start)
    full_prices = weight.astype(float)
    bound, values, threshold = lagrangian(cover, weight, full_prices, sites)  # no site beats its whole reach
    best = (bound, full_prices, values, threshold)
    floor = _EPS * max(float(weight.sum()), 1.0)
    full, value, solved, rounds = np.zeros(cover.shape[0]), 0.0, False, 0
    while time.perf_counter() < deadline:
        rounds += 1
        status, row_prices, price, x = master.solve()
        if status != "optimal":
            break  # the bound so far stands
        full = np.zeros(cover.shape[0])
        full[master.columns] = x
        value = -float(master.highs.getInfo().objective_function_value)
        p = master.prices(row_prices)
        bound, values, threshold = lagrangian(cover, weight, p, sites)
        if bound < best[0]:
            best = (bound, p, values, threshold)
        reduced = values - price
        reduced[master.member] = -np.inf
        new = _priced(reduced, cells, floor)
        if not len(new):
            solved = True
            break
        master.add(new)
    return _Relaxation(master, best[0], best[1], best[2], best[3], full, value, solved, rounds)


# --- branch and bound ----------------------------------------------------------------------


@dataclass
class _Search:
    """Branch and bound over a master's columns: depth first, each node's LP warm-started from
    its parent's basis; a node is dropped when its Lagrangian bound is no better than the best
    answer, and its columns fixed when the bound of every answer with (or without) them is not.
    Below a node where many sites are fixed, the subtree gets a smaller master of its own: the
    sites fixed in leave it (``base``), with the people they reach (``offset``)."""

    master: _Master
    cover: sparse.csr_matrix  # the whole model, to count what an answer reaches
    weight: np.ndarray
    best: float
    chosen: list[int]
    base: list[int] = field(default_factory=list)  # sites every answer below holds
    offset: float = 0.0  # the people they reach
    nodes: int = 0
    iterations: int = 0
    open_bound: float = -np.inf  # the best bound among nodes left unexplored (time or node limit)

    def _better(self, bound: float) -> bool:
        return bound > self.best + TOLERANCE * max(abs(self.best), 1.0)

    def _node_bound(self, row_prices: np.ndarray) -> tuple[float, np.ndarray, int]:
        m = self.master
        values = m.matrix @ row_prices
        ones = m.lower > 0.5
        free = m.lower < m.upper
        slots = m.sites - int(ones.sum())
        if slots < 0:
            return -np.inf, values, slots
        pick = np.maximum(values[free], 0.0)
        top = np.sort(pick)[::-1][:slots].sum() if slots else 0.0
        return self.offset + float((m.row_weight - row_prices).sum() + values[ones].sum() + top), values, slots

    def _fix(self, bound: float, values: np.ndarray, slots: int) -> None:
        m = self.master
        free = np.nonzero(m.lower < m.upper)[0]
        if not len(free):
            return
        v = np.maximum(values[free], 0.0)
        order = np.argsort(-v, kind="stable")
        ranked = v[order]
        kth = ranked[slots - 1] if 0 < slots <= len(ranked) else 0.0
        after = ranked[slots] if slots < len(ranked) else 0.0
        outside = np.ones(len(free), dtype=bool)
        outside[order[:slots]] = False
        enough = self.best + TOLERANCE * max(abs(self.best), 1.0)
        drop = free[outside & (bound - (kth - v) <= enough)]
        keep = free[~outside & (bound - (v - after) <= enough)]
        if len(drop):
            m.bounds(drop, np.zeros(len(drop)), np.zeros(len(drop)))
        if len(keep):
            m.bounds(keep, np.ones(len(keep)), np.ones(len(keep)))

    def _narrowed(self, x: np.ndarray, row_prices: np.ndarray, price: float) -> _Search:
        """The node's subtree on a master of its own: the sites fixed in join the base, the
        people they reach leave the rows, the sites fixed out leave the columns (and so do
        sites no better than another for the people left)."""
        m = self.master
        ones = np.nonzero(m.lower > 0.5)[0]
        base = self.base + [int(j) for j in m.columns[ones]]
        weight = m.weight.copy()  # the people the base reaches already count for nothing
        for j in m.columns[ones]:
            weight[self.cover.indices[self.cover.indptr[j]:self.cover.indptr[j + 1]]] = 0.0
        free = np.nonzero(m.lower < m.upper)[0]
        x_site = np.zeros(self.cover.shape[0])
        x_site[m.columns] = x
        sites = m.columns[free]
        if len(sites) <= _DOMINANCE_LIMIT:
            sites = _undominated(self.cover, sites, x_site, weight > 0)
        narrow = _Master(self.cover, weight, m.sites - len(ones), m.deadline)
        narrow.add(sites)
        if not narrow.start_from(x_site[narrow.columns], m.prices(row_prices), price):
            narrow.solve()
        return _Search(narrow, self.cover, self.weight, self.best, self.chosen, base,
                       reached(self.cover, self.weight, base))

    def _try(self, x: np.ndarray) -> None:
        m = self.master
        order = np.argsort(-x, kind="stable")[:m.sites]
        picked = self.base + [int(m.columns[j]) for j in order if x[j] > 1e-9]
        value = reached(self.cover, self.weight, picked)
        if value > self.best + 1e-9 * max(abs(self.best), 1.0):
            self.best, self.chosen = value, picked

    def run(self, deadline: float, node_limit: int | None = None) -> bool:
        """True when every node was explored: then no answer is better than ``best``."""
        m = self.master
        stack: list[tuple[np.ndarray, np.ndarray, Any, float]] = [(m.lower.copy(), m.upper.copy(), None, np.inf)]
        current: Any = None  # the basis HiGHS holds now (set again only when the next node needs another)
        while stack:
            if time.perf_counter() > deadline or (node_limit is not None and self.nodes >= node_limit):
                self.open_bound = max(s[3] for s in stack)
                return False
            lower, upper, basis, parent_bound = stack.pop()
            if not self._better(parent_bound):
                continue
            changed = np.nonzero((lower != m.lower) | (upper != m.upper))[0]
            m.bounds(changed, lower[changed], upper[changed])
            if basis is not None and basis is not current:
                m.highs.setBasis(basis)
            self.nodes += 1
            current = None
            status, row_prices, price, x = m.solve()
            self.iterations += max(m.highs.getInfo().simplex_iteration_count, 0)
            if status == "infeasible":
                continue  # more sites fixed in than allowed
            if status == "failed":  # no bound for this node: the search cannot finish
                self.open_bound = max([parent_bound] + [s[3] for s in stack])
                return False
            bound, values, slots = self._node_bound(row_prices)
            self._try(x)
            if not self._better(bound):
                continue
            self._fix(bound, values, slots)
            if (m.upper > 0.5).sum() < _NARROW * len(m.columns):
                narrow = self._narrowed(x, row_prices, price)
                finished = narrow.run(deadline)
                self.best, self.chosen = narrow.best, narrow.chosen
                self.nodes += narrow.nodes
                self.iterations += narrow.iterations
                if not finished:
                    self.open_bound = max([narrow.open_bound] + [s[3] for s in stack])
                    return False
                continue
            free = (m.lower < m.upper) & (x > 1e-6) & (x < 1 - 1e-6)
            if not free.any():
                # the LP chose whole sites: resolve with the fixings, or split on any free site
                candidates = np.nonzero(m.lower < m.upper)[0]
                if not len(candidates):
                    continue
                j = int(candidates[np.argmax(x[candidates])])
            else:
                fractional = np.nonzero(free)[0]
                j = int(fractional[np.argmin(np.abs(x[fractional] - 0.5))])  # most fractional
            here = current = m.basis
            down = (m.lower.copy(), m.upper.copy(), here, bound)
            down[1][j] = 0.0
            up = (m.lower.copy(), m.upper.copy(), here, bound)
            up[0][j] = 1.0
            stack += [down, up] if x[j] >= 0.5 else [up, down]
        return True


def _undominated(cover: sparse.csr_matrix, sites: np.ndarray, x: np.ndarray,
                 people: np.ndarray | None = None) -> np.ndarray:
    """The sites without those reaching a subset of whom another reaches (of ``people``, if
    given): any answer holding one is no worse with the other instead. Sites the LP solution
    ``x`` uses stay, so that solution still fits."""
    sub = cover[sites]
    if people is not None:
        sub = sub[:, people]
    size = np.diff(sub.indptr)
    shared = (sub @ sub.T).tocoo()
    other = size[shared.col]
    inside = (shared.data == size[shared.row]) & (shared.row != shared.col) & \
        ((other > size[shared.row]) | (shared.col < shared.row))
    dominated = np.zeros(len(sites), dtype=bool)
    dominated[shared.row[inside]] = True
    dominated[size == 0] = True
    return sites[~dominated | (x[sites] > 1e-9)]


# --- the whole solve -----------------------------------------------------------------------


def solve(cover: sparse.csr_matrix, weight: np.ndarray, sites: int,
          where: tuple[np.ndarray, np.ndarray] | None = None, time_limit: float = 60.0) -> Solution:
    """The best ``sites`` site classes (see the module). ``where``: each site's map position
    (metres), to bring sites from all over the map into the master at once."""
    started = time.perf_counter()
    deadline = started + time_limit
    stats: dict[str, float] = {}

    def lap(name: str, since: list[float] = [started, time.process_time()]) -> None:  # noqa: B006 - a stopwatch
        now, cpu = time.perf_counter(), time.process_time()
        stats[name] = round(now - since[0], 4)
        stats[name + "_cpu"] = round(cpu - since[1], 4)
        since[0], since[1] = now, cpu

    cover = sparse.csr_matrix(cover, dtype=float)  # no copy when it is one already
    weight = np.asarray(weight, dtype=float)
    k, _ = cover.shape
    # greedy on: its first ``sites`` are the greedy answer, all of them the master's first columns
    longer, _ = greedy(cover, weight, _GREEDY_START * sites)
    first = longer[:sites]
    first_value = reached(cover, weight, first)
    if k <= sites:
        everything = list(range(k))
        total = reached(cover, weight, everything)
        return Solution(everything, total, first_value, total, total, True, stats=stats)
    lap("greedy")
    relaxed = _relaxation(cover, weight, sites, longer, _cells(where, k), deadline)
    stats.update(lp_rounds=relaxed.rounds, lp_columns=len(relaxed.master.columns))
    lap("lp")
    best, chosen = first_value, first

    def proved(bound: float) -> bool:
        return bound <= best + TOLERANCE * max(abs(best), 1.0)

    if not proved(relaxed.bound):
        support = np.nonzero(relaxed.x > 1e-9)[0]
        if len(support):
            small = _Master(cover, weight, sites, time.perf_counter() + (deadline - time.perf_counter()) / 10)
            small.add(support)
            small.solve()
            search = _Search(small, cover, weight, best, chosen)
            search.run(small.deadline, _SUPPORT_NODES)
            best, chosen = search.best, search.chosen
        lap("support")
        if not proved(relaxed.bound):
            chosen, best = swapped(cover, weight, chosen, max(deadline - time.perf_counter(), 0.0))
            lap("swaps")
    if proved(relaxed.bound):
        return Solution(chosen, best, first_value, relaxed.bound, best, True, relaxed.solved, stats)
    # sites no answer better than ``best`` can hold are set aside; the search is over the rest
    per_site = relaxed.bound - np.maximum(relaxed.threshold - relaxed.values, 0.0)
    survivors = np.nonzero(per_site > best + TOLERANCE * max(abs(best), 1.0))[0]
    stats["survivors"] = len(survivors)
    if not len(survivors):  # no site can be in a better answer
        return Solution(chosen, best, first_value, relaxed.bound, best, True, relaxed.solved, stats)
    if len(survivors) <= _DOMINANCE_LIMIT:
        survivors = _undominated(cover, survivors, relaxed.x)
    master = _Master(cover, weight, sites, deadline)
    master.add(survivors)
    if not master.start_from(relaxed.x[master.columns], relaxed.prices, relaxed.threshold):
        master.solve()
    lap("fixing")
    stats.update(search_rows=master.rows, search_columns=len(master.columns), search_nnz=master.matrix.nnz)
    search = _Search(master, cover, weight, best, chosen)
    done = search.run(deadline)
    stats["nodes"] = search.nodes
    stats["iterations"] = search.iterations
    lap("search")
    best, chosen = search.best, search.chosen
    bound = best if done else min(relaxed.bound, max(search.open_bound, best))
    return Solution(chosen, best, first_value, relaxed.bound, bound, done, relaxed.solved, stats)
