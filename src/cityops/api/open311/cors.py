"""CORS for ``/open311/v2``: citizen web apps on other origins read and report from the browser.

GeoReport v2 carries no cookies or other credentials (a POST names its ``api_key`` in the body),
so no answer ever allows credentials. Who may read (every GET) and who may report (POST) are
the policy file's ``cors_origins`` (default ``["*"]``: anyone) and ``cors_post_origins``
(default none: the city lists the origins of the web apps it gave keys to; ``"*"`` for any).
See docs/open311.md, "CORS".
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response

from cityops.services.open311 import Policy

# What a browser app may read besides the simple response headers: the paging extension's
# headers and the rate limiter's Retry-After.
EXPOSED = "Link, X-Total-Count, X-Page, X-Page-Size, Retry-After"
ALLOWED_HEADERS = "Content-Type, Accept-Language"  # JSON bodies; errors in English
MAX_AGE = "86400"


def _origins(policy: Policy, method: str) -> tuple[str, ...]:
    return policy.cors_post_origins if method == "POST" else policy.cors_origins


def _allowed(policy: Policy, origin: str, method: str) -> str | None:
    """The Access-Control-Allow-Origin for a request from ``origin``, or None."""
    origins = _origins(policy, method)
    if "*" in origins:
        return "*"
    return origin if origin.lower() in origins else None


def add_headers(response: Response, request: Request, policy: Policy) -> None:
    """The CORS headers of an answer (success or error) to an actual request."""
    method = request.method
    headers: MutableHeaders = response.headers
    if "*" not in _origins(policy, method):
        headers.add_vary_header("Origin")  # the answer depends on who asks
    origin = request.headers.get("origin")
    if origin is None:
        return
    allowed = _allowed(policy, origin, method)
    if allowed is not None:
        headers["Access-Control-Allow-Origin"] = allowed
        headers["Access-Control-Expose-Headers"] = EXPOSED


def preflight(request: Request, policy: Policy) -> Response:
    """The answer to an OPTIONS request: a CORS preflight (``Access-Control-Request-Method``)
    is allowed for GET/HEAD from ``cors_origins`` and POST from ``cors_post_origins``, else
    answered without CORS headers (the browser then refuses the request); a plain OPTIONS
    gets the methods."""
    response = Response(status_code=204, headers={"Allow": "GET, HEAD, POST, OPTIONS"})
    wanted = request.headers.get("access-control-request-method", "").upper()
    origin = request.headers.get("origin")
    if not wanted or origin is None or wanted not in ("GET", "HEAD", "POST"):
        return response
    if "*" not in _origins(policy, wanted):
        response.headers.add_vary_header("Origin")
    allowed = _allowed(policy, origin, wanted)
    if allowed is not None:
        response.headers.update(
            {
                "Access-Control-Allow-Origin": allowed,
                "Access-Control-Allow-Methods": wanted,
                "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                "Access-Control-Max-Age": MAX_AGE,
            }
        )
    return response
