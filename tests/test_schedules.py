"""Weekdays and times in the words a person reads on a handout, not 2026-12-04 at 18:00."""

from __future__ import annotations

import datetime as dt

from assetmap.schedules import LOCAL, plain_schedules, plain_time, plain_when


def test_times_read_as_people_say_them() -> None:
    assert plain_time(dt.time(18, 0)) == "6pm"
    assert plain_time(dt.time(10, 30)) == "10:30am"
    assert plain_time(dt.time(12, 0)) == "12 noon"
    assert plain_time(dt.time(0, 0)) == "12 midnight"
    assert plain_time(dt.time(12, 15)) == "12:15pm"


def test_a_next_session_is_a_weekday_a_date_and_a_time() -> None:
    assert plain_when(dt.datetime(2026, 12, 4, 18, 0, tzinfo=LOCAL)) == "Friday 4 December, 6pm"
    assert plain_when("2026-12-03T18:00:00+00:00") == "Thursday 3 December, 6pm"
    # In summer the UTC text is read in Scotland's time.
    assert plain_when("2026-06-02T09:00:00+00:00") == "Tuesday 2 June, 10am"
    # A session without hours is a day, not "12 midnight".
    assert plain_when("2026-12-04T00:00:00+00:00") == "Friday 4 December"


def test_weekly_fortnightly_and_monthly_sessions_in_words() -> None:
    assert plain_schedules([{"freq": "WEEKLY", "byday": "TU", "opens_at": "10:00", "closes_at": "12:00"}]) == [
        "Tuesdays 10am to 12 noon"]
    assert plain_schedules([{"freq": "WEEKLY", "byday": "TU,TH", "opens_at": "13:30"}]) == [
        "Tuesdays and Thursdays from 1:30pm"]
    assert plain_schedules([{"freq": "WEEKLY", "byday": "FR", "interval": 2, "opens_at": "18:00",
                             "closes_at": "20:00"}]) == ["Every other Friday 6pm to 8pm"]
    assert plain_schedules([{"freq": "MONTHLY", "byday": "1MO", "opens_at": "14:00", "closes_at": "16:00"}]) == [
        "The first Monday of the month 2pm to 4pm"]
    assert plain_schedules([{"freq": "MONTHLY", "bymonthday": "15"}]) == ["The 15th of the month"]


def test_what_no_rule_says_is_the_records_own_words() -> None:
    assert plain_schedules([{"description": "Term time only, ring to check"}, {"freq": "DAILY"}]) == [
        "Term time only, ring to check"]
    assert plain_schedules([]) == []
