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


# --- in plain words, for the person and the CLW ------------------------------------------

DAY_WORDS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_NTH = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", -1: "last"}


def plain_time(at: dt.time) -> str:
    """6pm, 10:30am, 12 noon, 12 midnight: as a person says it, not 18:00."""
    if at.hour == 12 and at.minute == 0:
        return "12 noon"
    if at.hour == 0 and at.minute == 0:
        return "12 midnight"
    hour = at.hour % 12 or 12
    minutes = f":{at.minute:02d}" if at.minute else ""
    return f"{hour}{minutes}{'am' if at.hour < 12 else 'pm'}"


def plain_date(day: dt.date) -> str:
    """Thursday 4 December."""
    return f"{DAY_WORDS[day.weekday()]} {day.day} {day.strftime('%B')}"


def plain_when(at: dt.datetime | str, with_time: bool = True) -> str:
    """Thursday 4 December, 6pm (local time); an ISO text is read first. Without a time when
    the session's start is not known (``with_time=False``, or midnight: a day without hours)."""
    when = dt.datetime.fromisoformat(at) if isinstance(at, str) else at
    if when.tzinfo is not None:
        when = when.astimezone(LOCAL)
    if not with_time or (when.hour, when.minute) == (0, 0):
        return plain_date(when.date())
    return f"{plain_date(when.date())}, {plain_time(when.time())}"


def _and(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def plain_hours(opens: dt.time | None, closes: dt.time | None) -> str:
    """10am to 12 noon; from 6pm; until 4pm; "" when neither is known."""
    if opens and closes:
        return f"{plain_time(opens)} to {plain_time(closes)}"
    if opens:
        return f"from {plain_time(opens)}"
    if closes:
        return f"until {plain_time(closes)}"
    return ""


def plain_rule(rule: Rule) -> str:
    """Tuesdays 10am to 12 noon; Every other Friday 6pm to 8pm; The first Monday of the month."""
    hours = plain_hours(rule.opens, rule.closes)
    if rule.freq == "WEEKLY":
        names = [DAY_WORDS[w] for w in sorted({w for _, w in rule.days})]
        if rule.interval == 2:
            days = "Every other " + _and(names)
        elif rule.interval > 2:
            days = f"Every {rule.interval} weeks on " + _and(names)
        else:
            days = _and([n + "s" for n in names])
    else:
        parts = [f"the {_NTH.get(nth, f'{nth}th')} {DAY_WORDS[w]}" if nth else f"every {DAY_WORDS[w]}"
                 for nth, w in rule.days]
        parts += [f"the {_ordinal(d)}" if d > 0 else "the last day" for d in rule.monthdays]
        days = _and(parts) + " of the month"
        days = days[0].upper() + days[1:]
    return f"{days} {hours}" if hours else days


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def plain_schedules(schedules: Iterable[dict[str, Any]]) -> list[str]:
    """Each schedule in plain words: from its rule when it has one, else the record's own words
    (a description such as "term time only" says what a rule cannot)."""
    said: list[str] = []
    for schedule in schedules:
        rule = parse(schedule)
        text = plain_rule(rule) if rule else str(schedule.get("description") or "").strip()
        if text and text not in said:
            said.append(text)
    return said
