"""The dashboard's static shell: ``GET /`` and ``GET /dashboard/{asset}``.

Implementation note: these two routes are public on purpose. They serve a fixed page, its
script and its style sheet, built into the package and holding no data; every job, cron job and
count the page shows comes from the token-protected ``/api`` routes, called by the browser with
the token the user pastes (kept in sessionStorage). Serving the shell without a token is what
lets the page ask for one.
"""

from __future__ import annotations

import json
from pathlib import Path

from chalice import Blueprint, Response

ASSET_DIR = Path(__file__).resolve().parent.parent / "dashboard"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
# The page loads only its own script and style and talks only to its own API: an injected
# string could neither run inline script nor send data elsewhere.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Small files, changed with each deploy: revalidate rather than serve a stale script.
    "Cache-Control": "no-cache",
}


def _load_assets() -> dict[str, tuple[str, str]]:
    """name -> (content type, text), read once per container; only these names are served."""
    assets = {}
    for path in sorted(ASSET_DIR.iterdir()):
        content_type = CONTENT_TYPES.get(path.suffix)
        if path.is_file() and content_type:
            assets[path.name] = (content_type, path.read_text(encoding="utf-8"))
    return assets


ASSETS = _load_assets()
bp = Blueprint(__name__)


def _serve(name: str) -> Response:
    found = ASSETS.get(name)
    if found is None:
        # The API's error shape, though this is not under /api: one shape for every 4xx.
        body = {"success": False, "error": f"No dashboard asset named {name!r}.", "code": "not_found", "details": []}
        return Response(body=json.dumps(body), status_code=404, headers={"Content-Type": "application/json"})
    content_type, text = found
    return Response(body=text, status_code=200, headers={"Content-Type": content_type, **SECURITY_HEADERS})


@bp.route("/", methods=["GET"])
def index() -> Response:
    return _serve("index.html")


@bp.route("/dashboard/{asset}", methods=["GET"])
def asset(asset: str) -> Response:
    return _serve(asset)
