"""Full Scottish postcode import and lookup latency, SpatiaLite and PostGIS side by side.

    .venv/bin/python benchmarks/geography.py [--backends spatialite,postgis] [--lookups 5000]

Imports all 16 Code-Point Open files (158,945 postcodes), Glasgow's data zones and
SIMD 2020v2, then times in-process lookups of random live postcodes, sectors and
districts. Targets (issue 3): import under 15 s on SpatiaLite, a lookup under 1 ms.
Writes benchmarks/results/geography.json.
"""

from __future__ import annotations

import argparse
import random
import time

from common import databases, opendata, percentiles, timed, write_results

from assetmap.db import connect
from assetmap.geography import lookup
from assetmap.io.areas import import_areas
from assetmap.io.deprivation import import_deprivation
from assetmap.io.postcodes import import_postcodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="spatialite,postgis")
    parser.add_argument("--lookups", type=int, default=5000)
    args = parser.parse_args()
    data = opendata()
    files = sorted((data / "codepoint-open-2020-08/csv").glob("*.csv"))
    rng = random.Random(20201)
    results: dict[str, dict[str, object]] = {}
    with databases(args.backends.split(",")) as urls:
        for name, url in urls.items():
            engine = connect(url)
            start = time.perf_counter()
            loaded = sum(import_postcodes(engine, f).loaded for f in files)
            import_seconds = time.perf_counter() - start
            areas_seconds = timed(lambda: import_areas(engine, data / "datazones2011-glasgow/glasgow_city_data_zones.json"))
            simd_seconds = timed(lambda: import_deprivation(engine, data / "simd2020v2/simd2020_withinds.csv"))
            with open(files[5]) as handle:  # g.csv: Glasgow, where areas and SIMD are loaded
                postcodes = [line.split(",")[0].strip('"') for line in handle if ",90," not in line]
            sample = rng.sample(postcodes, min(args.lookups, len(postcodes)))
            sectors = sorted({p.replace(" ", "")[:-2] for p in sample})
            with engine.connect() as conn:
                for p in sample[:200]:  # warm the cache and the pool
                    lookup(conn, p)
                unit = []
                for p in sample:
                    t = time.perf_counter()
                    lookup(conn, p)
                    unit.append(time.perf_counter() - t)
                partial = []
                for s in sectors:
                    t = time.perf_counter()
                    lookup(conn, s[:-1] + " " + s[-1])
                    partial.append(time.perf_counter() - t)
            pooled = []
            for p in sample[:1000]:
                t = time.perf_counter()
                lookup(engine, p)
                pooled.append(time.perf_counter() - t)
            results[name] = {
                "postcodes_loaded": loaded,
                "postcode_import_seconds": round(import_seconds, 2),
                "areas_import_seconds": round(areas_seconds, 2),
                "simd_import_seconds": round(simd_seconds, 2),
                "lookup_postcode": percentiles(unit),
                "lookup_postcode_with_pool_checkout": percentiles(pooled),
                "lookup_sector": percentiles(partial),
            }
            engine.dispose()
    print(f"{'':34}" + "".join(f"{n:>14}" for n in results))
    rows = [("postcodes imported", "postcodes_loaded", None),
            ("full Scottish import (s)", "postcode_import_seconds", None),
            ("lookup p50 (ms)", "lookup_postcode", "p50_ms"),
            ("lookup p99 (ms)", "lookup_postcode", "p99_ms"),
            ("lookup via engine p50 (ms)", "lookup_postcode_with_pool_checkout", "p50_ms"),
            ("sector lookup p50 (ms)", "lookup_sector", "p50_ms")]
    for label, key, sub in rows:
        values = [results[n][key] if sub is None else results[n][key][sub] for n in results]  # type: ignore[index]
        print(f"{label:34}" + "".join(f"{v:>14,}" if isinstance(v, int) else f"{v:>14.3f}" for v in values))
    if len(results) == 2:
        s, p = results["spatialite"], results["postgis"]
        ratio = p["lookup_postcode"]["p50_ms"] / s["lookup_postcode"]["p50_ms"]  # type: ignore[index]
        print(f"PostGIS / SpatiaLite lookup p50: {ratio:.2f}x; import: "
              f"{p['postcode_import_seconds'] / s['postcode_import_seconds']:.2f}x")  # type: ignore[operator]
    print(f"written to {write_results('geography', {'results': results})}")


if __name__ == "__main__":
    main()
