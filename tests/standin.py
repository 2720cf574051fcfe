"""A stand-in Nominatim on 127.0.0.1 that records every request it gets."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class StandIn:
    def __init__(self) -> None:
        self.requests: list[tuple[float, str]] = []
        seen = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                query = parse_qs(urlparse(self.path).query).get("q", [""])[0]
                seen.append((time.monotonic(), query))
                places = [] if "nowhere" in query.lower() else [
                    {"lat": "55.8512", "lon": "-4.2096", "display_name": f"{query}, Glasgow"}]
                body = json.dumps(places).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def domain(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"
