"""Import 100,000 synthetic services in ORUK JSON, on SpatiaLite and PostGIS side by side.

    .venv/bin/python benchmarks/import_assets.py [--services 100000] [--backends spatialite,postgis]

The import is the one `assetmap import assets` runs (assetmap.io.assets.import_files:
checks, quality flags, provenance). Then the same file again, which is a re-sync (every
record compared three ways with what was last synced), and the export back to ORUK
JSON. Target (issue 4): the import under 30 s on SpatiaLite.
Writes benchmarks/results/import_assets.json. To see what a change cost, run it on an
old revision and on HEAD with the same script:
`benchmarks/compare.py import_assets --rev REV --same-script -- --backends spatialite`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from common import databases, opendata, write_results
from synthetic import services

from assetmap.db import connect
from assetmap.io.assets import import_files
from assetmap.io.oruk import export_oruk, page


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=100_000)
    parser.add_argument("--backends", default="spatialite,postgis")
    args = parser.parse_args()
    started = time.perf_counter()
    records = services(args.services, opendata())
    print(f"generated {len(records):,} services in {time.perf_counter() - started:.1f} s")
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as folder, databases(args.backends.split(",")) as urls:
        source = Path(folder) / "services.json"
        source.write_text(json.dumps(page(records)))
        print(f"ORUK JSON file: {source.stat().st_size / 1e6:.0f} MB")
        for name, url in urls.items():
            engine = connect(url)
            start = time.perf_counter()
            (report,) = import_files(engine, [source])
            imported = time.perf_counter() - start
            start = time.perf_counter()
            import_files(engine, [source])
            resynced = time.perf_counter() - start
            start = time.perf_counter()
            export_oruk(engine, Path(folder) / f"export-{name}.json")
            exported = time.perf_counter() - start
            results[name] = {"services": args.services, "records": report.loaded,
                             "import_seconds": round(imported, 2), "resync_seconds": round(resynced, 2),
                             "export_seconds": round(exported, 2),
                             "services_per_second": round(args.services / imported)}
            engine.dispose()
    print(f"{'':28}" + "".join(f"{n:>14}" for n in results))
    for key in ("records", "import_seconds", "services_per_second", "resync_seconds", "export_seconds"):
        print(f"{key:28}" + "".join(f"{results[n][key]:>14,}" for n in results))
    if len(results) == 2:
        print(f"PostGIS / SpatiaLite import time: "
              f"{results['postgis']['import_seconds'] / results['spatialite']['import_seconds']:.2f}x")
    print(f"written to {write_results('import_assets', {'results': results})}")


if __name__ == "__main__":
    main()
