"""Roles in the browser: what each role sees, what the API refuses, logins, users, audit.

The dashboard over the real API (FakeView behind it) with users in an in-memory
store; Chromium logs in through the login page like a person would.
"""

from __future__ import annotations

import httpx
import pytest

from routepilot.api.accounts import Accounts, Role
from routepilot.api.config import ApiConfig
from routepilot.api.fake import FakeView
from routepilot.store import MemoryStore

from .browser import chromium_page, screenshot
from .serve import serve

PASSWORD = "correct horse battery"
CONFIG = ApiConfig(write_token="w" * 24, anonymous_reads=False)
OVERVIEW_READY = "#heatmap table tbody tr"


def people() -> Accounts:
    accounts = Accounts(MemoryStore())
    for name, role in (("vera", Role.VIEWER), ("otto", Role.OPERATOR), ("ada", Role.ADMIN)):
        accounts.add_user(name, role, password=PASSWORD)
    return accounts


def log_in(page, url: str, name: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(url + "/#/login")
    page.fill("#login-name", name)
    page.fill("#login-password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_selector(OVERVIEW_READY, timeout=20_000)


def test_closed_reads_send_the_browser_to_log_in() -> None:
    with serve(FakeView(), CONFIG, people()) as url, chromium_page(1280, 900) as page:
        page.goto(url + "/")
        page.wait_for_selector("#alert a[href='#/login']", timeout=20_000)
        page.click("#alert a[href='#/login']")
        page.fill("#login-name", "vera")
        page.fill("#login-password", "not the password")
        page.click("#login-submit")
        page.wait_for_function("document.querySelector('#login-error').textContent !== ''")
        assert page.inner_text("#login-error") == "wrong user name or password"
        page.fill("#login-password", PASSWORD)
        page.click("#login-submit")
        page.wait_for_selector(OVERVIEW_READY, timeout=20_000)
        assert "vera · viewer" in page.inner_text("#me")
        # The cookie is out of the page's reach (HttpOnly).
        assert "routepilot_session" not in page.evaluate("document.cookie")
        cookie = next(c for c in page.context.cookies() if c["name"] == "routepilot_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"


def test_a_viewer_sees_no_pause_button_and_the_api_refuses_it() -> None:
    view = FakeView()
    with serve(view, CONFIG, people()) as url, chromium_page(1280, 900) as page:
        log_in(page, url, "vera")
        assert page.locator("#pause").count() == 0
        assert page.locator("#dry-run-toggle").count() == 0
        assert page.locator("nav a[href='#/users']").count() == 0
        assert page.locator("nav a[href='#/audit']").count() == 0
        # Asked anyway, from the page with the session's CSRF token: refused, clearly.
        answer = page.evaluate(
            """async () => {
              const me = await (await fetch('/api/v1/session')).json();
              const r = await fetch('/api/v1/control/pause', {method: 'POST',
                headers: {'X-CSRF-Token': me.csrf_token}});
              return [r.status, await r.json()];
            }"""
        )
        assert answer == [
            403,
            {
                "error": "vera has the viewer role; pause needs the operator role (an admin "
                "can change it: routepilot users add/remove)"
            },
        ]
        assert view.paused is False
        page.click("#feed tbody tr a")
        page.wait_for_selector("#p-rtt svg path.series", timeout=20_000)
        assert page.locator("#pin, #unpin, #exclude, #include").count() == 0
        # The one error the browser logged is the refused pause asked for above.
        assert all("403" in e for e in page.errors)  # type: ignore[attr-defined]


def test_an_operator_pauses_from_the_header_and_the_audit_names_them() -> None:
    view = FakeView()
    with serve(view, CONFIG, people()) as url, chromium_page(1280, 900) as page:
        log_in(page, url, "otto")
        page.click("#pause")
        page.wait_for_selector("#resume", timeout=10_000)
        assert view.paused is True
        assert "paused" in page.inner_text("#status")
        # A change without the CSRF header is refused even with the session cookie.
        status = page.evaluate(
            "async () => (await fetch('/api/v1/control/resume', {method: 'POST'})).status"
        )
        assert status == 403 and view.paused is True
        page.click("#resume")
        page.wait_for_selector("#pause", timeout=10_000)
        assert view.paused is False
        # Pinning from a prefix's page.
        page.click("#feed tbody tr a")
        page.wait_for_selector("#pin", timeout=20_000)
        prefix = page.inner_text("#prefix-head h2").split("/ ", 1)[1].split(" ")[0]
        page.select_option("#pin-to", "isp3")
        page.click("#pin")
        page.wait_for_selector("#unpin", timeout=10_000)
        assert view.prefix(prefix)["pinned"] == "isp3"
        assert "pinned to isp3" in page.inner_text("#prefix-head")
        page.click("nav a[href='#/audit']")
        page.wait_for_selector("#audit-table table", timeout=10_000)
        rows = page.locator("#audit-table tbody tr").all_inner_texts()
        assert [r.split("\t")[1:4] for r in rows[:5]] == [
            ["otto", "127.0.0.1", "pin"],
            ["otto", "127.0.0.1", "resume"],
            ["otto", "127.0.0.1", "resume"],
            ["otto", "127.0.0.1", "pause"],
            ["otto", "127.0.0.1", "login"],
        ]
        assert "403 refused" in rows[2] and "200 ok" in rows[1] and "isp3" in rows[0]
        assert page.locator("nav a[href='#/users']").count() == 0
        assert all("403" in e for e in page.errors)  # type: ignore[attr-defined]


def test_an_admin_adds_and_removes_a_user_whose_token_stops_at_once() -> None:
    with serve(FakeView(), CONFIG, people()) as url, chromium_page(1280, 900) as page:
        page.on("dialog", lambda d: d.accept())
        log_in(page, url, "ada")
        page.click("nav a[href='#/users']")
        page.wait_for_selector("#users-table table", timeout=10_000)
        page.fill("#user-name", "nina")
        page.select_option("#user-role", "operator")
        page.click("#user-add")
        page.wait_for_selector("#new-token", timeout=10_000)
        token = page.inner_text("#new-token")
        page.wait_for_selector("#users-table tr[data-user=nina]")
        auth = {"Authorization": f"Bearer {token}"}
        assert httpx.post(f"{url}/api/v1/control/pause", headers=auth).status_code == 200
        page.click("#users-table tr[data-user=nina] button.remove")
        page.wait_for_selector("#users-table tr[data-user=nina]", state="detached")
        r = httpx.post(f"{url}/api/v1/control/resume", headers=auth)
        assert r.status_code == 401 and r.json() == {"error": "invalid token"}
        assert page.errors == []  # type: ignore[attr-defined]


PAGES = [("overview", "/#/", OVERVIEW_READY), ("audit", "/#/audit", "#audit-table table"),
         ("users", "/#/users", "#users-table table")]  # fmt: skip


@pytest.mark.parametrize("width,height", [(1280, 900), (390, 844)])
def test_every_page_fits_the_width_at_1280_and_on_a_phone(width: int, height: int) -> None:
    """Screenshots of every page (test-artifacts/), and no page wider than the screen:
    wide tables scroll inside their cards."""
    with serve(FakeView(), CONFIG, people()) as url, chromium_page(width, height) as page:
        page.goto(url + "/#/login")
        page.wait_for_selector("#login-name")
        screenshot(page, f"page-login-{width}.png")
        log_in(page, url, "ada")
        wide = "document.documentElement.scrollWidth - window.innerWidth"
        for name, path, ready in PAGES:
            page.goto(url + path)
            page.wait_for_selector(ready, timeout=20_000)
            screenshot(page, f"page-{name}-{width}.png")
            assert page.evaluate(wide) <= 0, name
        page.goto(url + "/#/")
        page.wait_for_selector(OVERVIEW_READY, timeout=20_000)
        page.click("#feed tbody tr a")
        page.wait_for_selector("#p-rtt svg path.series", timeout=20_000)
        screenshot(page, f"page-prefix-{width}.png")
        assert page.evaluate(wide) <= 0, "prefix"
        # The first-run checklist: FakeView is ready; a controller missing its inputs is told
        # what is missing and how to fix it.
        page.goto(url + "/#/")
        page.wait_for_selector("#checklist li", timeout=20_000)
        assert page.inner_text("#checklist .check-summary") == "ready"
        bad = page.evaluate(
            """async () => (await import('./checklist.js')).checklistItems(
                 {sessions: {edge: 'idle'}, counts: {prefixes: 0}, dry_run: true, paused: false},
                 [{name: 'isp1', rate_bps: 0, rtt_ms: null, loss: null}])"""
        )
        assert [(i["key"], i["ok"]) for i in bad] == [
            ("sessions", False), ("flows", False), ("probes", False), ("mode", None),
        ]  # fmt: skip
        assert "flows.listen" in bad[1]["fix"] and "isp1" in bad[2]["detail"]
        page.click("#feed tbody tr a")
        page.wait_for_selector("#p-sentence", timeout=20_000)
        # The decision said as a sentence with units, not a dump of fields.
        sentence = page.inner_text("#p-sentence")
        assert " ms" in sentence or "%" in sentence, sentence
        assert page.errors == []  # type: ignore[attr-defined]
