"""Reading a large file in a second process while this one writes what it has read.

Checking the UK's postcode directory row by row in Python takes as long as writing it; on a
machine with two cores the two can overlap. The reader runs in a forked child and sends its
chunks through a pipe (a few at a time, so neither side runs far ahead); its report comes back
at the end, and an error it raises (a damaged file) is raised here. Where processes cannot be
forked the reader simply runs here.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from assetmap.io.report import ImportFileError, ImportReport

T = TypeVar("T")
_DONE, _FAILED = "done", "failed"


def read_in_background(read: Callable[[ImportReport], Iterator[T]], report: ImportReport) -> Iterator[T]:
    """The items of ``read(report)``, read in a child process; ``report`` ends as the child left it."""
    if "fork" not in multiprocessing.get_all_start_methods():
        yield from read(report)
        return
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_run, args=(read, report, sender), daemon=True)
    child.start()
    sender.close()
    try:
        while True:
            try:
                kind, value = receiver.recv()
            except EOFError:
                child.join()  # its exit code, for the message
                raise ImportFileError(f"the process reading {report.source} stopped without a word (exit code "
                                      f"{child.exitcode}: out of memory?); nothing was imported") from None
            if kind == _DONE:
                for field in dataclasses.fields(report):
                    setattr(report, field.name, getattr(value, field.name))
                return
            if kind == _FAILED:
                raise value
            yield value
    finally:
        receiver.close()
        if child.is_alive():
            child.terminate()
        child.join()


def _run(read: Callable[[ImportReport], Iterator[Any]], report: ImportReport, sender: Any) -> None:
    try:
        for item in read(report):
            sender.send(("item", item))
        sender.send((_DONE, report))
    except Exception as exc:  # noqa: BLE001 - every failure is the parent's to raise
        sender.send((_FAILED, exc))
    finally:
        sender.close()
