"""Old code and new asked the same searches in turn, person by person, to see a change of a few percent.

    .venv/bin/python benchmarks/search_paired.py --rev bebe6d0 [--database URL | --services 100000]
                                                 [--people 3000] [--rounds 6]

search.py's runs on this host differ by 20% or more minutes apart, for every system alike
(benchmarks/README.md), so a change of a few percent cannot be seen run against run, nor by
compare.py's alternating runs. Here the old revision (a temporary git worktree) and this checkout
each search from their own process, with their own index over one database, all on one CPU; each
person is asked of both, in a random order, a few milliseconds apart, so a slow spell of the host
slows both halves of the pair. Two processes with the same code still differ by a percent or two
(where each one's index lands in memory), so each round starts a fresh pair, in turn old first or
new first. The figure is the median of the people's new/old ratios, overall and by round; a change
is shown only when every round's median is on the same side of 1 (by chance alone, with six rounds,
one time in 32). The answers (results and online
picks, in order) are compared too. As in search.py, the people are synthetic and the services
synthetic at real postcode points with every Code-Point postcode loaded, or any database given.
Writes benchmarks/results/search_paired.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from common import ROOT, opendata, percentiles, write_results
from synthetic import people, postcode_points, search_database

from assetmap.db import connect
from assetmap.errors import AssetmapError

# Run in each tree, reading one person a line: only the public search API, which both revisions have.
WORKER = """
import json, sys, time
import assetmap
from assetmap.db import connect
from assetmap.search import SERVER_FRESH_FOR, Query, Searcher
searcher = Searcher(connect(sys.argv[1]), fresh_for=SERVER_FRESH_FOR)
searcher.warm()
print("ready", assetmap.__file__, flush=True)
for line in sys.stdin:
    postcode, needs = json.loads(line)
    start = time.perf_counter()
    answer = searcher.search(Query(postcode=postcode, needs=tuple(needs), limit=10))
    seconds = time.perf_counter() - start
    print(json.dumps([seconds, [r.service_id for r in answer.results + answer.remote]]), flush=True)
"""
WARM_UP = 20


def _one_cpu() -> None:
    """This driver, and so both searchers it starts, on one CPU, taking turns: on two, each side would
    have a CPU of its own, and a CPU that also takes the machine's interrupts would slow one side only."""
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


class Worker:
    """One tree's searcher in its own process, asked over a pipe (the pipe is outside the timing)."""

    def __init__(self, tree: Path, url: str) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", WORKER, url], cwd=tree, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        env={**os.environ, "PYTHONPATH": str(tree)})
        self.stdin: TextIO = self.process.stdin  # type: ignore[assignment]
        self.stdout: TextIO = self.process.stdout  # type: ignore[assignment]
        said = self.stdout.readline().split()
        if said[:1] != ["ready"]:
            raise SystemExit(f"the searcher in {tree} did not start: see its error above")
        if not Path(said[1]).resolve().is_relative_to(tree.resolve()):
            raise SystemExit(f"the searcher for {tree} imported assetmap from {said[1]}, not from its tree")

    def ask(self, postcode: str, needs: list[str]) -> tuple[float, list[str]]:
        self.stdin.write(json.dumps([postcode, needs]) + "\n")
        self.stdin.flush()
        seconds, ids = json.loads(self.stdout.readline())
        return seconds, ids

    def close(self) -> None:
        self.stdin.close()
        self.process.wait(timeout=60)


def paired(old: Worker, new: Worker, asked: list[Any], seed: int) -> dict[str, Any]:
    """Each person asked of both, in a random order: their times and whether the answers are the same."""
    for p in asked[:WARM_UP]:  # what each builds on first use
        old.ask(p[0], list(p[3]))
        new.ask(p[0], list(p[3]))
    order = random.Random(seed)
    times: dict[str, list[float]] = {"old": [], "new": []}
    same = 0
    for p in asked[WARM_UP:]:
        sides = [("old", old), ("new", new)]
        order.shuffle(sides)
        answers = {}
        for label, worker in sides:
            seconds, answers[label] = worker.ask(p[0], list(p[3]))
            times[label].append(seconds)
        same += answers["old"] == answers["new"]
    return {"times": times, "same": same}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", required=True, help="the old revision to compare with, e.g. a commit")
    parser.add_argument("--services", type=int, default=100_000, help="synthetic services (default: %(default)s)")
    parser.add_argument("--database", help="an assetmap database to search instead of a synthetic one")
    parser.add_argument("--people", type=int, default=3000, help="people asked of both (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=6,
                        help="fresh pairs of processes, the people shared among them (default: %(default)s)")
    args = parser.parse_args()
    if args.rounds < 1 or args.people < 10 * args.rounds:
        parser.error("give --rounds of at least 1 and --people of at least 10 a round")
    if args.database:
        try:
            connect(args.database, create=False).dispose()  # as the commands do: a missing file is an error
        except AssetmapError as exc:
            parser.error(f"--database: {exc}")
    _one_cpu()
    points = postcode_points(opendata())
    asked = people(points, WARM_UP + args.people, seed=31)
    with tempfile.TemporaryDirectory(prefix="assetmap-paired-") as folder:
        old_tree = Path(folder) / "old"
        made = subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(old_tree), args.rev],
                              capture_output=True, text=True, check=False)
        if made.returncode:
            parser.error(f"--rev {args.rev}: {made.stderr.strip().splitlines()[-1]}")
        try:
            url = args.database or search_database(Path(folder), args.services, opendata(), points)
            load_before = os.getloadavg()
            share = args.people // args.rounds
            rounds = []
            for number in range(args.rounds):
                # Fresh processes each round, started in turn old first or new first: where a process's
                # index lands in memory moves its speed by a percent or two, whatever its code.
                start = time.perf_counter()
                first, second = (old_tree, ROOT) if number % 2 == 0 else (ROOT, old_tree)
                started = {first: Worker(first, url), second: Worker(second, url)}
                old, new = started[old_tree], started[ROOT]
                print(f"round {number + 1}/{args.rounds}: both indexes built in {time.perf_counter() - start:.0f} s; "
                      f"asking {share:,} people of both", flush=True)
                try:
                    mine = asked[WARM_UP + number * share:WARM_UP + (number + 1) * share]
                    rounds.append(paired(old, new, asked[:WARM_UP] + mine, seed=number))
                finally:
                    old.close()
                    new.close()
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old_tree)], check=False)
    old_times = [t for r in rounds for t in r["times"]["old"]]
    new_times = [t for r in rounds for t in r["times"]["new"]]
    by_round = [round(float(np.median(np.array(r["times"]["new"]) / np.array(r["times"]["old"]))), 4) for r in rounds]
    ratio = round(float(np.median(np.array(new_times) / np.array(old_times))), 4)
    shown = "faster" if max(by_round) < 1 else "slower" if min(by_round) > 1 else "no difference shown"
    if 2 ** (args.rounds - 1) < 20:  # all on one side would happen by chance alone more than one time in 20
        shown = f"too few rounds to tell ({args.rounds}; give 6)"
    row = {"people": len(old_times), "rounds": args.rounds, "old": percentiles(old_times), "new": percentiles(new_times),
           "median_ratio_new_over_old": ratio, "median_ratio_by_round": by_round, "verdict": shown,
           "same_answers": sum(r["same"] for r in rounds)}
    print(f"old ({args.rev}) p50 {row['old']['p50_ms']:.3f} ms, new p50 {row['new']['p50_ms']:.3f} ms in this run")
    print(f"new / old, median of {row['people']:,} paired ratios: {ratio:.3f}; by round "
          f"{', '.join(f'{r:.3f}' for r in by_round)}: {shown} (shown only when every round is on one side of 1, "
          f"which chance alone does once in {2 ** (args.rounds - 1)})")
    print(f"the same answers for {row['same_answers']:,} of {row['people']:,}")
    path = write_results("search_paired", {
        "old_revision": args.rev, "database": "synthetic" if args.database is None else "given",
        "services": args.services if args.database is None else None, **row,
        "load_average_1_5_15_min": {"start": load_before, "end": os.getloadavg()},
        "command": "benchmarks/search_paired.py " + " ".join(sys.argv[1:])})
    print(f"written to {path}")


if __name__ == "__main__":
    main()
