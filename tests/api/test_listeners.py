"""Two listeners: recipients' and providers' routes on the public app, everything else on
the management app; security headers on both; every list pages."""

from __future__ import annotations

import httpx

from tests.api.test_bad_input import MAILBOX

STEP = {"subject": "s", "body": "b"}


async def test_each_app_serves_only_its_own_routes(
    api: httpx.AsyncClient, public: httpx.AsyncClient
) -> None:
    for path in ("/campaigns", "/mailboxes", "/me", "/keys", "/audit", "/docs"):
        answer = await public.get(path, headers=api.headers)
        assert answer.status_code == 404, path
    assert (await api.get("/unsubscribe/x")).status_code == 404
    assert (await api.get("/track/open/x")).status_code == 404
    assert (await api.post("/inbound/1", content=b"x")).status_code == 404
    assert (await api.post("/sms/inbound", data={"Body": "STOP"})).status_code == 404
    assert (await api.post("/sms/status/x", data={"MessageStatus": "sent"})).status_code == 404
    assert (await public.get("/healthz")).json() == {"status": "ok"}
    assert (await api.get("/healthz", headers={"Authorization": ""})).status_code == 200


async def test_both_apps_send_security_headers_and_the_unsubscribe_page_a_strict_csp(
    api: httpx.AsyncClient, public: httpx.AsyncClient
) -> None:
    page = await public.get("/unsubscribe/not-a-token")
    answer = await api.get("/me")

    for response in (page, answer):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src" not in csp  # no script at all


async def test_every_list_pages_with_a_largest_page(api: httpx.AsyncClient) -> None:
    mailbox = (await api.post("/mailboxes", json=MAILBOX)).json()["id"]
    for name in ("one", "two", "three"):
        made = await api.post(
            "/campaigns", json={"name": name, "mailbox_id": mailbox, "steps": [STEP]}
        )
        assert made.status_code == 201

    first = (await api.get("/campaigns", params={"limit": 2})).json()
    rest = (await api.get("/campaigns", params={"limit": 2, "offset": 2})).json()
    assert [c["name"] for c in first + rest] == ["three", "two", "one"]
    for path in (
        "/campaigns",
        "/mailboxes",
        "/users",
        "/keys",
        "/tasks",
        "/suppressions",
        "/audit",
    ):
        too_many = await api.get(path, params={"limit": 100_000})
        assert too_many.status_code == 422, path
        assert too_many.json()["detail"][0]["field"] == "limit", path
