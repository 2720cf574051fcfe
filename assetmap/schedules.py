"""When a service next runs, from Open Referral schedules (iCalendar RRULE fields).

Handles what community directories actually publish: weekly sessions on given
days (``freq=WEEKLY, byday=TU,TH``), fortnightly ones (``interval=2`` from
``dtstart``), monthly ones on a numbered weekday (``byday=1FR``) or a date
(``bymonthday=15``), each with opening and closing times and an optional
validity window. Anything else is "times not known", never a guess.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

LOCAL = ZoneInfo("Europe/London")
DAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
DAY_NAMES = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_BYDAY = re.compile(r"^([+-]?\d)?(MO|TU|WE|TH|FR|SA|SU)$")


@dataclass(frozen=True)
class Rule:
    """One schedule, parsed."""

    freq: str  # WEEKLY or MONTHLY
    days: tuple[tuple[int | None, int], ...]  # (nth or None, weekday 0=Monday)
    monthdays: tuple[int, ...]
    opens: dt.time | None
    closes: dt.time | None
    interval: int
    start: dt.date | None
    valid_from: dt.date | None
    valid_to: dt.date | None


def _time(value: Any) -> dt.time | None:
    if not value:
        return None
    match = re.match(r"^(\d{1,2}):(\d{2})", str(value))
    if not match:
        return None
    hour, minute = int(match.group(1)), int(match.group(2))
    return dt.time(hour, minute) if hour < 24 and minute < 60 else None


def parse(schedule: dict[str, Any]) -> Rule | None:
    freq = (schedule.get("freq") or "").upper()
    if freq not in ("WEEKLY", "MONTHLY"):
        return None
    days = []
    for part in str(schedule.get("byday") or "").upper().replace(" ", "").split(","):
        match = _BYDAY.match(part)
        if match:
            nth = int(match.group(1)) if match.group(1) else None
            days.append((nth, DAY_CODES.index(match.group(2))))
    monthdays = tuple(int(d) for d in re.findall(r"-?\d+", str(schedule.get("bymonthday") or "")))
    if not days and not (freq == "MONTHLY" and monthdays):
        return None
    try:
        interval = max(1, int(schedule.get("interval") or 1))
    except (TypeError, ValueError):
        interval = 1
    return Rule(freq, tuple(days), monthdays, _time(schedule.get("opens_at")), _time(schedule.get("closes_at")),
                interval, _date(schedule.get("dtstart")), _date(schedule.get("valid_from")),
                _date(schedule.get("valid_to")))


def _date(value: Any) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _nth_weekday(day: dt.date, nth: int, weekday: int) -> bool:
    """Is ``day`` the nth ``weekday`` of its month (nth < 0 counts from the end)?"""
    if day.weekday() != weekday:
        return False
    if nth > 0:
        return (day.day - 1) // 7 + 1 == nth
    next_month = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    last = (next_month - dt.timedelta(days=1)).day
    return (last - day.day) // 7 + 1 == -nth


def runs_on(rule: Rule, day: dt.date) -> bool:
    if rule.valid_from and day < rule.valid_from or rule.valid_to and day > rule.valid_to:
        return False
    if rule.freq == "WEEKLY":
        if not any(weekday == day.weekday() for _, weekday in rule.days):
            return False
        if rule.interval > 1 and rule.start:
            weeks = (day - (rule.start - dt.timedelta(days=rule.start.weekday()))).days // 7
            return weeks >= 0 and weeks % rule.interval == 0
        return True
    if day.day in rule.monthdays:
        return True
    return any(_nth_weekday(day, nth, weekday) if nth else weekday == day.weekday() for nth, weekday in rule.days)


def parse_all(schedules: Iterable[dict[str, Any]]) -> list[Rule]:
    return [r for r in (parse(s) for s in schedules) if r]


def next_session(schedules: Iterable[dict[str, Any]], now: dt.datetime | None = None,
                 horizon_days: int = 62) -> dt.datetime | None:
    """The start of the next session at or after ``now`` (local time), within two months."""
    return next_session_of(parse_all(schedules), now, horizon_days)


def next_session_of(rules: Sequence[Rule], now: dt.datetime | None = None,
                    horizon_days: int = 62) -> dt.datetime | None:
    """``next_session`` for rules already parsed (the search parses each schedule once)."""
    if not rules:
        return None
    now = (now or dt.datetime.now(LOCAL)).astimezone(LOCAL)
    best: dt.datetime | None = None
    for rule in rules:
        first = 0
        if rule.freq == "WEEKLY" and rule.interval == 1 and rule.valid_from is None and rule.days:
            # Skip straight to the first day of the week it runs on.
            first = min((weekday - now.weekday()) % 7 for _, weekday in rule.days)
        for offset in range(first, horizon_days):
            day = now.date() + dt.timedelta(days=offset)
            if not runs_on(rule, day):
                continue
            start = dt.datetime.combine(day, rule.opens or dt.time(0, 0), LOCAL)
            end = dt.datetime.combine(day, rule.closes, LOCAL) if rule.closes else start
            if end < now and offset == 0 and rule.opens is not None:
                continue  # today's session is over
            if best is None or start < best:
                best = start
            break
    return best


def weekdays(schedules: Iterable[dict[str, Any]]) -> set[int] | None:
    """Weekdays (0=Monday) a service can run on; None when its schedule is not known."""
    rules = [r for r in (parse(s) for s in schedules) if r]
    if not rules:
        return None
    days: set[int] = set()
    for rule in rules:
        if rule.freq == "MONTHLY" and rule.monthdays:
            return set(range(7))
        days |= {weekday for _, weekday in rule.days}
    return days


def open_at(schedules: Iterable[dict[str, Any]], weekday: int, at: dt.time | None) -> bool | None:
    """Whether a service runs on ``weekday`` (at ``at``); None when not known."""
    return open_at_rules(parse_all(schedules), weekday, at)


def open_at_rules(rules: Sequence[Rule], weekday: int, at: dt.time | None) -> bool | None:
    if not rules:
        return None
    for rule in rules:
        on_day = (rule.freq == "MONTHLY" and bool(rule.monthdays)) or any(w == weekday for _, w in rule.days)
        if not on_day:
            continue
        if at is None or rule.opens is None or rule.closes is None or rule.opens <= at < rule.closes:
            return True
    return False


def day_number(text: str) -> int:
    """0-6 from "tuesday", "Tue", "TU" or "2" (ISO: Monday is 1)."""
    value = text.strip().lower()
    if value.isdigit() and 1 <= int(value) <= 7:
        return int(value) - 1
    if value[:3] in DAY_NAMES:
        return DAY_NAMES[value[:3]]
    if value.upper() in DAY_CODES:
        return DAY_CODES.index(value.upper())
    raise ValueError(f"{text!r} is not a day of the week")
