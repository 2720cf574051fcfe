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

SAVES = 5  # per editor
DEADLINE = 120.0  # seconds


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
    # Not a race against the clock (these machines are shared): everyone works until each editor
    # has saved SAVES times and an import has finished. DEADLINE only stops a test that hangs.
    editors_done = threading.Event()
    deadline = time.monotonic() + DEADLINE

    def going() -> bool:
        return not (editors_done.is_set() and counts["imports"] >= 1) and time.monotonic() < deadline

    def guarded(work):  # type: ignore[no-untyped-def]
        def run() -> None:
            try:
                work()
            except BaseException as exc:  # noqa: BLE001 - every failure is the test's business
                errors.append(exc)
        return threading.Thread(target=run)

    def search() -> None:
        while going():
            searcher.search(Query(latitude=55.85, longitude=-4.2, needs=("singing", "money"), max_metres=300))
            counts["searches"] += 1

    def editor(name: str) -> None:
        for n in range(SAVES):
            while time.monotonic() < deadline:  # read, change, save; on a conflict read again: the way the page works
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
        while going():
            import_assets(engine, opendata / "givefood/foodbanks_scotland_subset.csv")
            counts["imports"] += 1

    editors = [guarded(lambda: editor("a")), guarded(lambda: editor("b"))]
    others = [guarded(search) for _ in range(3)] + [guarded(importer)]
    for thread in editors + others:
        thread.start()
    for thread in editors:
        thread.join(timeout=DEADLINE + 30)
    editors_done.set()
    for thread in others:
        thread.join(timeout=DEADLINE + 30)
    assert not errors, repr(errors[0])
    assert time.monotonic() < deadline, f"the editors or the import never got through: {counts}"
    assert counts["saves"] == 2 * SAVES and counts["imports"] >= 1 and counts["searches"] >= 1
    with engine.connect() as conn:
        final = service_form(conn, target)
    assert final is not None
    text = final.values["when"]
    assert len(text) < 2000  # nothing was cut off, so every mark must still be there
    marks = [word for word in text.split() if word[0] in "ab" and word[1:].isdigit()]
    # Every save that succeeded appended its own mark after reading the latest text: none is lost.
    assert len(marks) == len(set(marks)) == counts["saves"]
