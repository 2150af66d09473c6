"""The dashboard's static shell: served at / with its assets, public, holding no data."""

from __future__ import annotations

import re

from tests.conftest import Stack, assert_error


def test_the_page_is_served_at_the_root_as_html_with_a_strict_csp(stack: Stack) -> None:
    page = stack.client.http.get("/")
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy and "'unsafe-inline'" not in policy
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    html = page.body.decode()
    # Relative asset URLs, so the page also works under an API Gateway stage path.
    assert 'src="dashboard/app.js"' in html and 'href="dashboard/style.css"' in html
    assert "<script>" not in html, "no inline script: the policy would block it"


def test_each_asset_is_served_with_its_content_type(stack: Stack) -> None:
    for name, content_type in [
        ("app.js", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        ("index.html", "text/html; charset=utf-8"),
    ]:
        answer = stack.client.http.get(f"/dashboard/{name}")
        assert answer.status_code == 200, name
        assert answer.headers["Content-Type"] == content_type


def test_an_unknown_or_escaping_asset_name_is_a_404_in_the_error_shape(stack: Stack) -> None:
    for name in ["nope.js", "..%2F..%2Fapp.py", "%2E%2E", "__init__.py"]:
        assert_error(stack.client.http.get(f"/dashboard/{name}"), 404, "not_found")


def test_the_shell_holds_no_data_and_its_script_never_assigns_html(stack: Stack, admin: str) -> None:
    stack.schedule(admin, storeId="store-secret-name")
    page = stack.client.http.get("/").body.decode()
    script = stack.client.http.get("/dashboard/app.js").body.decode()
    assert "store-secret-name" not in page + script
    # Untrusted strings reach the page as text nodes only.
    assert not re.search(r"\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write", script)


def test_data_routes_still_need_a_token(stack: Stack) -> None:
    assert_error(stack.client.http.get("/api/background-jobs"), 401, "missing_token")
