"""One benchmark, old code and new side by side in one run: did a change cost speed?

    .venv/bin/python benchmarks/compare.py search --rev dab5e6b --rounds 2 -- --sizes 100000 --no-postgis
    .venv/bin/python benchmarks/compare.py gaps --rev dab5e6b -- --sizes 100000

The old revision is checked out in a temporary git worktree; the benchmark script is
run from each tree in turn, alternating (old, new, old, new, ...) so that a noisy
machine slows both alike. Each figure is the median over the rounds; the ratio is
new / old (below 1 is faster for times). Writes benchmarks/results/compare-NAME.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from common import ROOT, write_results

# Figures that measure assetmap itself (the baselines inside each benchmark do not change).
OURS = ("in_process", "http", "index_build", "assetmap_full_analysis", "assetmap_2sfca", "import_seconds",
        "resync_seconds", "export_seconds")


def _flatten(value: Any, prefix: str = "") -> dict[str, float]:
    if isinstance(value, dict):
        found: dict[str, float] = {}
        for key, inner in value.items():
            found |= _flatten(inner, f"{prefix}{key}." if prefix or key else "")
        return found
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {prefix.rstrip("."): float(value)}
    return {}


def _run(tree: Path, name: str, arguments: list[str]) -> dict[str, float]:
    # Both trees read the same open data: the one beside this checkout (or ASSETMAP_SHARED_DIR).
    shared = os.environ.get("ASSETMAP_SHARED_DIR") or str(ROOT.parent / "shared")
    subprocess.run([sys.executable, str(tree / "benchmarks" / f"{name}.py"), *arguments], cwd=tree, check=True,
                   env={**os.environ, "ASSETMAP_SHARED_DIR": shared})
    figures = json.loads((tree / "benchmarks" / "results" / f"{name}.json").read_text())
    return _flatten(figures.get("results", {}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="the benchmark: search, gaps, ...")
    parser.add_argument("--rev", required=True, help="the old revision to compare with, e.g. a commit")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each tree (default: %(default)s)")
    parser.add_argument("--same-script", action="store_true",
                        help="run HEAD's benchmark script in the old tree too (the same workload on old code)")
    parser.epilog = "Arguments after -- go to the benchmark itself."
    mine, _, theirs = " ".join(sys.argv[1:]).partition(" -- ")
    args = parser.parse_args(mine.split())
    args.arguments = theirs.split()
    with tempfile.TemporaryDirectory() as folder:
        old = Path(folder) / "old"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(old), args.rev], check=True,
                       capture_output=True)
        try:
            if args.same_script:
                script = f"benchmarks/{args.name}.py"
                (old / script).write_text((ROOT / script).read_text())
            runs: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
            for round_number in range(args.rounds):
                for label, tree in (("old", old), ("new", ROOT)):
                    print(f"round {round_number + 1}/{args.rounds}: {label} ({args.rev if label == 'old' else 'HEAD'})",
                          flush=True)
                    runs[label].append(_run(tree, args.name, args.arguments))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)], check=False)
    compared: dict[str, dict[str, float]] = {}
    for key in sorted(runs["new"][0]):
        if not any(word in key for word in OURS) or key not in runs["old"][0]:
            continue
        before = statistics.median(r[key] for r in runs["old"] if key in r)
        after = statistics.median(r[key] for r in runs["new"] if key in r)
        compared[key] = {"old": before, "new": after, "new_over_old": round(after / before, 3) if before else 0.0}
        print(f"{key:55s} old {before:10.4g}  new {after:10.4g}  new/old {compared[key]['new_over_old']:.3f}")
    print(f"written to {write_results(f'compare-{args.name}', {'old_revision': args.rev, 'rounds': args.rounds, 'arguments': args.arguments, 'figures': compared})}")


if __name__ == "__main__":
    main()
