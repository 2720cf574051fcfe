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
_PER_CELL = 3  # columns priced into the master per 2 km cell of the locality, each round
_CELL_METRES = 2000.0
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
    """One best site at a time (by people newly reached); stops when no site adds anyone."""
    pool = np.arange(cover.shape[0]) if among is None else np.asarray(among, dtype=np.int64)
    matrix = cover[pool].tocsr()
    left = weight.astype(float).copy()
    chosen: list[int] = []
    gains: list[float] = []
    taken = np.zeros(len(pool), dtype=bool)
    for _ in range(min(sites, len(pool))):
        gain = matrix @ left
        gain[taken] = -1
        best = int(np.argmax(gain))
        if gain[best] <= 0:
            break
        taken[best] = True
        chosen.append(int(pool[best]))
        gains.append(float(gain[best]))
        left[matrix.indices[matrix.indptr[best]:matrix.indptr[best + 1]]] = 0.0
    return chosen, gains


def swapped(cover: sparse.csr_matrix, by_person: sparse.csr_matrix, weight: np.ndarray,
            chosen: Sequence[int], seconds: float = 10.0) -> tuple[list[int], float]:
    """The chosen sites improved by swaps: while moving one site elsewhere reaches more people,
    make the best such move. Each pass is one product of the cover with a vector, plus the
    people only one chosen site reaches (``by_person`` is the cover transposed, CSR)."""
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
        # back[j, s]: people only site s reaches that j reaches too (kept when s moves to j)
        rows = by_person[alone]
        back = sparse.csr_matrix((np.repeat(weight[alone], np.diff(rows.indptr)),
                                  (rows.indices, np.repeat(owner[alone], np.diff(rows.indptr)))),
                                 shape=(k, len(sites))).toarray()
        change = gain[:, None] + back - loss[None, :]
        change[sites, :] = -np.inf
        j, position = (int(i) for i in np.unravel_index(int(np.argmax(change)), change.shape))
        if change[j, position] <= 1e-9 * max(value, 1.0):
            break
        old = sites[position]
        count[cover.indices[cover.indptr[old]:cover.indptr[old + 1]]] -= 1
        count[cover.indices[cover.indptr[j]:cover.indptr[j + 1]]] += 1
        sites[position] = int(j)
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


# --- the master LP -----------------------------------------------------------------------


class _Master:
    """The linear relaxation over some sites (its columns), people grouped by which of those
    sites reach them (its rows): max sum W_r y_r, y_r <= sum x_j, sum x_j <= P. Rows are split
    as sites join; the simplex basis is carried over, so each solve starts where the last ended."""

    def __init__(self, cover: sparse.csr_matrix, weight: np.ndarray, sites: int):
        self.cover, self.weight, self.sites = cover, weight, sites
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
        m = self.cover.shape[1]
        words = (len(new) + 63) // 64
        bits = np.zeros((m, words), dtype=np.uint64)
        np.bitwise_or.at(bits, (person, column >> 6), np.left_shift(np.uint64(1), (column & 63).astype(np.uint64)))
        touched = np.zeros(m, dtype=bool)
        touched[person] = True
        covered = np.nonzero(touched | (self.label >= 0))[0]
        keys = np.column_stack([(self.label[covered] + 1).astype(np.uint64), bits[covered]])
        unique, inverse = np.unique(keys, axis=0, return_inverse=True)
        parent = unique[:, 0].astype(np.int64) - 1
        label = np.full(m, -1, dtype=np.int64)
        label[covered] = inverse.ravel()
        old_rows, old_columns = self.rows, len(self.columns)
        self.label, self.rows = label, len(unique)
        self.row_weight = np.bincount(inverse.ravel(), weights=self.weight[covered], minlength=self.rows)
        self.columns = np.concatenate([self.columns, new])
        self.member[new] = True
        self.lower = np.concatenate([self.lower, np.zeros(len(new))])
        self.upper = np.concatenate([self.upper, np.ones(len(new))])
        every = self.cover[self.columns]
        self.matrix = sparse.csr_matrix(
            (np.ones(every.nnz), (np.repeat(np.arange(len(self.columns)), np.diff(every.indptr)),
                                  label[every.indices])), shape=(len(self.columns), self.rows))
        self.matrix.sum_duplicates()
        self.matrix.data[:] = 1.0
        self._pass(parent, old_rows, old_columns)
        return len(new)

    def _pass(self, parent: np.ndarray, old_rows: int, old_columns: int) -> None:
        k, n = self.matrix.shape
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = k + n, n + 1
        lp.col_cost_ = np.concatenate([np.zeros(k), -self.row_weight])
        lp.col_lower_ = np.concatenate([self.lower, np.zeros(n)])
        lp.col_upper_ = np.concatenate([self.upper, np.ones(n)])
        lp.row_lower_ = np.full(n + 1, -highspy.kHighsInf)
        lp.row_upper_ = np.concatenate([np.zeros(n), [float(self.sites)]])
        links = sparse.hstack([-self.matrix.T, sparse.identity(n, format="csr")], format="csr")
        count = sparse.csr_matrix((np.ones(k), (np.zeros(k, dtype=np.int64), np.arange(k))), shape=(1, k + n))
        whole = sparse.vstack([links, count], format="csc")
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = whole.indptr.astype(np.int32)
        lp.a_matrix_.index_ = whole.indices.astype(np.int32)
        lp.a_matrix_.value_ = whole.data.astype(float)
        self.highs.passModel(lp)
        if self.basis is not None:
            self.highs.setBasis(self._carried(parent, old_rows, old_columns))

    def _carried(self, parent: np.ndarray, old_rows: int, old_columns: int) -> Any:
        """The last basis on the split rows: a row's first part keeps its statuses; every other
        part gets one basic variable of its own (its y if the row's y was basic, else its slack),
        so the basis stays square and non-singular, and the last solution stays feasible."""
        old = self.basis
        old_col = list(old.col_status)
        old_row = list(old.row_status)
        k, n = self.matrix.shape
        col = old_col[:old_columns] + [_LOWER] * (k - old_columns)
        y_status: list[Any] = []
        row_status: list[Any] = []
        seen = np.zeros(max(old_rows, 1), dtype=bool)
        for r in range(n):
            q = int(parent[r])
            if q < 0:  # people no column reached before: y at zero, the row's slack basic
                y_status.append(_LOWER)
                row_status.append(_BASIC)
            elif not seen[q]:
                seen[q] = True
                y_status.append(old_col[old_columns + q])
                row_status.append(old_row[q])
            elif old_col[old_columns + q] == _BASIC:
                y_status.append(_BASIC)
                row_status.append(_UPPER)
            else:
                y_status.append(old_col[old_columns + q])
                row_status.append(_BASIC)
        basis = highspy.HighsBasis()
        basis.col_status = col + y_status
        basis.row_status = row_status + [old_row[old_rows]]
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

    def solve(self) -> tuple[bool, np.ndarray, float, np.ndarray]:
        """(solved, prices per row, price of a site, x per column)."""
        h = self.highs
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return False, np.zeros(self.rows), 0.0, np.zeros(len(self.columns))
        self.basis = h.getBasis()
        solution = h.getSolution()
        duals = -np.asarray(solution.row_dual)
        values = np.asarray(solution.col_value)
        return True, np.clip(duals[:self.rows], 0.0, self.row_weight), max(float(duals[self.rows]), 0.0), \
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
    master = _Master(cover, weight, sites)
    master.add(start)
    best: tuple[float, np.ndarray, np.ndarray, float] | None = None
    floor = _EPS * max(float(weight.sum()), 1.0)
    rounds = 0
    while True:
        rounds += 1
        solved, row_prices, price, x = master.solve()
        if not solved:
            raise RuntimeError(f"HiGHS did not solve the covering LP ({master.highs.getModelStatus()})")
        p = master.prices(row_prices)
        bound, values, threshold = lagrangian(cover, weight, p, sites)
        if best is None or bound < best[0]:
            best = (bound, p, values, threshold)
        reduced = values - price
        reduced[master.member] = -np.inf
        new = _priced(reduced, cells, floor)
        if not len(new) or time.perf_counter() > deadline:
            break
        master.add(new)
    full = np.zeros(cover.shape[0])
    full[master.columns] = x
    value = -float(master.highs.getInfo().objective_function_value)
    return _Relaxation(master, best[0], best[1], best[2], best[3], full, value, not len(new), rounds)


# --- branch and bound ----------------------------------------------------------------------


@dataclass
class _Search:
    """Branch and bound over a master's columns: depth first, each node's LP warm-started from
    its parent's basis; a node is dropped when its Lagrangian bound is no better than the best
    answer, and its columns fixed when the bound of every answer with (or without) them is not."""

    master: _Master
    cover: sparse.csr_matrix  # the whole model, to count what an answer reaches
    weight: np.ndarray
    sites: int
    best: float
    chosen: list[int]
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
        slots = self.sites - int(ones.sum())
        if slots < 0:
            return -np.inf, values, slots
        pick = np.maximum(values[free], 0.0)
        top = np.sort(pick)[::-1][:slots].sum() if slots else 0.0
        return float((m.row_weight - row_prices).sum() + values[ones].sum() + top), values, slots

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
        drop = free[outside & (bound - (kth - v) <= self.best + TOLERANCE * max(abs(self.best), 1.0))]
        keep = free[~outside & (bound - (v - after) <= self.best + TOLERANCE * max(abs(self.best), 1.0))]
        if len(drop):
            m.bounds(drop, np.zeros(len(drop)), np.zeros(len(drop)))
        if len(keep):
            m.bounds(keep, np.ones(len(keep)), np.ones(len(keep)))

    def _narrowed(self, active: np.ndarray, x: np.ndarray, row_prices: np.ndarray, price: float) -> _Search:
        """The node's subtree on a master of its own over the sites still allowed: once many
        sites are fixed out, a smaller LP makes every simplex iteration below it cheaper."""
        m = self.master
        sites = m.columns[active]
        order = np.argsort(sites, kind="stable")
        narrow = _Master(self.cover, self.weight, self.sites)
        narrow.add(sites)
        chosen = active[order]
        narrow.bounds(np.arange(len(chosen)), m.lower[chosen], m.upper[chosen])
        if not narrow.start_from(x[chosen], m.prices(row_prices), price):
            narrow.solve()
        return _Search(narrow, self.cover, self.weight, self.sites, self.best, self.chosen)

    def _try(self, x: np.ndarray) -> None:
        m = self.master
        order = np.argsort(-x, kind="stable")[:self.sites]
        picked = [int(m.columns[j]) for j in order if x[j] > 1e-9]
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
            solved, row_prices, price, x = m.solve()
            self.iterations += m.highs.getInfo().simplex_iteration_count
            if not solved:
                continue  # infeasible (more sites fixed in than allowed)
            bound, values, slots = self._node_bound(row_prices)
            self._try(x)
            if not self._better(bound):
                continue
            self._fix(bound, values, slots)
            active = np.nonzero(m.upper > 0.5)[0]
            if len(active) < _NARROW * len(m.columns):
                narrow = self._narrowed(active, x, row_prices, price)
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


def _undominated(cover: sparse.csr_matrix, sites: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The sites without those reaching a strict subset of whom another reaches (any answer
    holding one is no worse with the other instead), unless the LP solution uses them."""
    sub = cover[sites]
    size = np.diff(sub.indptr)
    shared = (sub @ sub.T).tocoo()
    inside = (shared.data == size[shared.row]) & (size[shared.col] > size[shared.row])
    dominated = np.zeros(len(sites), dtype=bool)
    dominated[shared.row[inside]] = True
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

    cover = cover.tocsr().astype(float)
    weight = np.asarray(weight, dtype=float)
    k, _ = cover.shape
    first, _ = greedy(cover, weight, sites)
    first_value = reached(cover, weight, first)
    if k <= sites:
        everything = list(range(k))
        total = reached(cover, weight, everything)
        return Solution(everything, total, first_value, total, total, True, stats=stats)
    lap("greedy")
    relaxed = _relaxation(cover, weight, sites, first, _cells(where, k), deadline)
    stats.update(lp_rounds=relaxed.rounds, lp_columns=len(relaxed.master.columns))
    lap("lp")
    best, chosen = first_value, first

    def proved(bound: float) -> bool:
        return bound <= best + TOLERANCE * max(abs(best), 1.0)

    if not proved(relaxed.bound):
        support = np.nonzero(relaxed.x > 1e-9)[0]
        small = _Master(cover, weight, sites)
        small.add(support)
        small.solve()
        search = _Search(small, cover, weight, sites, best, chosen)
        search.run(deadline, _SUPPORT_NODES)
        best, chosen = search.best, search.chosen
        lap("support")
        if not proved(relaxed.bound):
            chosen, best = swapped(cover, cover.T.tocsr(), weight, chosen, max(deadline - time.perf_counter(), 0.0))
            lap("swaps")
    if proved(relaxed.bound):
        return Solution(chosen, best, first_value, relaxed.bound, best, True, relaxed.solved, stats)
    # sites no answer better than ``best`` can hold are set aside; the search is over the rest
    per_site = relaxed.bound - np.maximum(relaxed.threshold - relaxed.values, 0.0)
    survivors = np.nonzero(per_site > best + TOLERANCE * max(abs(best), 1.0))[0]
    stats["survivors"] = len(survivors)
    survivors = _undominated(cover, survivors, relaxed.x)
    master = _Master(cover, weight, sites)
    master.add(survivors)
    if not master.start_from(relaxed.x[master.columns], relaxed.prices, relaxed.threshold):
        master.solve()
    lap("fixing")
    stats.update(search_rows=master.rows, search_columns=len(master.columns), search_nnz=master.matrix.nnz)
    search = _Search(master, cover, weight, sites, best, chosen)
    done = search.run(deadline)
    stats["nodes"] = search.nodes
    stats["iterations"] = search.iterations
    lap("search")
    best, chosen = search.best, search.chosen
    bound = best if done else min(relaxed.bound, max(search.open_bound, best))
    return Solution(chosen, best, first_value, relaxed.bound, bound, done, relaxed.solved, stats)
