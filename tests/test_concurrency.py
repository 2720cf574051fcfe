"""Editors saving while searches run and an import runs: no "database is locked", no lost update."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import Engine

from assetmap.db import connect
from assetmap.demo import load_demo
from assetmap.editing import ConflictError, save_service, service_form
from assetmap.io.assets import import_assets
from assetmap.search import Query, Searcher

SECONDS = 4.0


def test_writers_readers_and_an_import_at_once(db_url: str, opendata: Path) -> None:
    engine: Engine = connect(db_url)
    load_demo(engine)
    searcher = Searcher(engine)
    with engine.connect() as conn:
        target = searcher.search(Query(latitude=55.8527, longitude=-4.1995, needs=("befriending",),
                                       max_metres=20_000, record_unmet=False)).results[0].service_id
        assert service_form(conn, target) is not None
    errors: list[BaseException] = []
    counts = {"searches": 0, "saves": 0, "conflicts": 0, "imports": 0}
    stop = time.monotonic() + SECONDS

    def guarded(work):  # type: ignore[no-untyped-def]
        def run() -> None:
            try:
                work()
            except BaseException as exc:  # noqa: BLE001 - every failure is the test's business
                errors.append(exc)
        return threading.Thread(target=run)

    def search() -> None:
        while time.monotonic() < stop:
            searcher.search(Query(latitude=55.85, longitude=-4.2, needs=("singing", "money"), max_metres=300))
            counts["searches"] += 1

    def editor(name: str) -> None:
        for n in range(1000):
            if time.monotonic() > stop:
                return
            while True:  # read, change, save; on a conflict read again: the way the page works
                with engine.connect() as conn:
                    form = service_form(conn, target)
                assert form is not None
                values = dict(form.values)
                values["when"] = f"{values.get('when') or ''} {name}{n}".strip()[-2000:]
                try:
                    save_service(engine, values, f"{name}@example.org", target, form.version)
                    counts["saves"] += 1
                    break
                except ConflictError:
                    counts["conflicts"] += 1

    def importer() -> None:
        while time.monotonic() < stop:
            import_assets(engine, opendata / "givefood/foodbanks_scotland_subset.csv")
            counts["imports"] += 1

    threads = [guarded(search) for _ in range(3)] + [guarded(lambda: editor("a")), guarded(lambda: editor("b"))]
    threads.append(guarded(importer))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, repr(errors[0])
    assert counts["searches"] > 10 and counts["saves"] > 4 and counts["imports"] >= 1
    with engine.connect() as conn:
        final = service_form(conn, target)
    assert final is not None
    text = final.values["when"]
    assert len(text) < 2000  # nothing was cut off, so every mark must still be there
    marks = [word for word in text.split() if word[0] in "ab" and word[1:].isdigit()]
    # Every save that succeeded appended its own mark after reading the latest text: none is lost.
    assert len(marks) == len(set(marks)) == counts["saves"]
