"""Simulated Community Links Workers, for benchmarks/load.py (a locust file; not run on its own).

Each CLW signs in with an account of their own, then keeps searching as in an
appointment: the search page with a person's postcode (typed one of the ways
people type them), a click on the map or a partial postcode, and needs ticked or
typed (typos included), sometimes followed by the handout or a service's page.
The people to search for come from ASSETMAP_LOAD_PEOPLE (written by load.py);
every request's start, latency, verdict and server go to ASSETMAP_LOAD_OUT when locust quits.

ASSETMAP_LOAD_SERVERS lists the servers' addresses (separated by commas): each CLW sends
each request to the next of them in turn, starting at a different one, as a load balancer
without sticky sessions would: signed in on one, searching on the others.

ASSETMAP_LOAD_PACE is each CLW's searches per second (0: no pause at all, to find
the most the server can answer).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
from pathlib import Path
from typing import Any

from locust import FastHttpUser, constant, constant_throughput, events, task

PEOPLE: list[dict[str, Any]] = json.loads(Path(os.environ["ASSETMAP_LOAD_PEOPLE"]).read_text())
PACE = float(os.environ.get("ASSETMAP_LOAD_PACE") or 0)
PASSWORD = os.environ["ASSETMAP_LOAD_PASSWORD"]
ACCOUNTS = itertools.count()
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
RESULT_ID = re.compile(r'name="id" value="([^"]+)"')
SERVERS = [s for s in os.environ.get("ASSETMAP_LOAD_SERVERS", "").split(",") if s]
SERVER = re.compile(r"^https?://[^/]+")
# name, start (epoch s), milliseconds, "" or what went wrong, the server that answered
SAMPLES: list[tuple[str, float, float, str, str]] = []


@events.request.add_listener
def _record(name: str, response_time: float, exception: BaseException | None, start_time: float,
            url: str = "", **_: Any) -> None:
    server = SERVER.match(url)
    SAMPLES.append((name, start_time, response_time, "" if exception is None else str(exception)[:200],
                    server.group(0) if server else ""))


@events.quitting.add_listener
def _write(**_: Any) -> None:
    Path(os.environ["ASSETMAP_LOAD_OUT"]).write_text(json.dumps(SAMPLES))


class CommunityLinksWorker(FastHttpUser):
    wait_time = constant_throughput(PACE) if PACE else constant(0)
    network_timeout = 30.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        number = next(ACCOUNTS)
        self.rng = random.Random(number)
        first = number % len(SERVERS) if SERVERS else 0
        self.servers = itertools.cycle(SERVERS[first:] + SERVERS[:first] or [""])
        page = self.client.get(self.at("/login"), name="sign in")
        token = TOKEN.search(page.text or "")
        email = f"clw{number % int(os.environ['ASSETMAP_LOAD_ACCOUNTS'])}@example.org"
        with self.client.post(self.at("/login"), data={"csrf_token": token.group(1) if token else "", "email": email,
                                                       "password": PASSWORD},
                              name="sign in", allow_redirects=False, catch_response=True) as answer:
            if answer.status_code != 302:
                answer.failure(f"sign in gave {answer.status_code}")

    def at(self, path: str) -> str:
        """``path`` on the next server in turn (on the one server given to locust when there is one)."""
        return next(self.servers) + path

    @task
    def appointment(self) -> None:
        person = self.rng.choice(PEOPLE)
        path = "/api/search" if person["via"] == "api" else "/"
        with self.client.get(self.at(path), params=person["params"], name=f"search {person['via']}",
                             catch_response=True) as answer:
            text = answer.text or ""
            if answer.status_code != person["expect"]:
                answer.failure(f"{answer.status_code} where {person['expect']} was right: {text[:120]}")
                return
            if answer.status_code == 400 and "error" not in text:
                answer.failure("a refusal without a reason")
                return
            if answer.status_code == 200 and ('"results"' if person["via"] == "api" else 'id="found"') not in text:
                answer.failure("an answer without its results section")
                return
            answer.success()  # a refusal of a postcode that does not exist is the right answer
        found = RESULT_ID.findall(text)
        if found and self.rng.random() < 0.15:
            self.client.get(self.at("/handout"), params=[("id", i) for i in found[:3]], name="handout")
        elif found and self.rng.random() < 0.05:
            self.client.get(self.at(f"/services/{found[0]}"), name="service page")
