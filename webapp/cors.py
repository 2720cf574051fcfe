"""Cross-origin reading for open, sessionless endpoints: one helper, used by name.

A browser-based tool on another site (an Open Referral validator, a directory's map) may read
what any stranger may: ``Access-Control-Allow-Origin: *``, never with credentials, so a
browser sends no cookie and reads nothing a session would show. Nothing that needs a session
or a CSRF token may use it.
"""

from __future__ import annotations

from flask import Response, request

METHODS = "GET, HEAD, OPTIONS"


def allow_any_origin(response: Response) -> Response:
    """Let any origin read ``response`` (GET and HEAD), and answer a preflight OPTIONS."""
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        return response
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers.add("Vary", "Origin")
    if request.method == "OPTIONS":
        response.headers["Access-Control-Allow-Methods"] = METHODS
        asked = request.headers.get("Access-Control-Request-Headers")
        if asked:  # a simple GET needs none; what a tool asks to send (Accept, ...) carries no credentials
            response.headers["Access-Control-Allow-Headers"] = asked[:200]
        response.headers["Access-Control-Max-Age"] = "86400"
    return response
