"""The suppression list API, and enrollment refusing addresses on it (SQLite, no Temporal)."""

from __future__ import annotations

import httpx

from tests.api.test_bad_input import make_campaign, problems


async def test_an_address_is_listed_refused_at_enrollment_and_removed_with_a_reason(
    api: httpx.AsyncClient,
) -> None:
    campaign_id = await make_campaign(api)
    added = await api.post(
        "/suppressions", json={"address": "Ann.Lee+jobs@gmail.com", "reason": "asked by phone"}
    )
    again = await api.post("/suppressions", json={"address": "annlee@gmail.com", "reason": "x"})
    listed = (await api.get("/suppressions")).json()

    assert added.status_code == 201 and added.json()["source"] == "manual"
    assert again.status_code == 409 and "already suppressed (manual: asked by phone)" in again.text
    assert listed["total"] == 2  # the spelling given and Gmail's normalised one
    assert {i["address"] for i in listed["items"]} == {"ann.lee+jobs@gmail.com", "annlee@gmail.com"}

    only_listed = [{"first_name": "Ann", "addresses": [{"address": "a.n.n.lee@googlemail.com"}]}]
    refused = await api.post(f"/campaigns/{campaign_id}/prospects", json=only_listed)
    assert refused.status_code == 409
    assert "only addresses on the suppression list" in refused.text
    assert (await api.get(f"/campaigns/{campaign_id}")).json()["total_prospects"] == 0

    with_another = [
        {
            "first_name": "Ann",
            "addresses": [{"address": "ann.lee@gmail.com"}, {"address": "ann@acme.example"}],
        }
    ]
    joined = await api.post(f"/campaigns/{campaign_id}/prospects", json=with_another)
    assert joined.status_code == 201, joined.text  # the work address may still be used

    removed = await api.post(
        "/suppressions/remove", json={"address": "annlee@gmail.com", "reason": "wrote back"}
    )
    assert removed.status_code == 200 and removed.json() == {"removed": 2}
    assert (await api.get("/suppressions")).json()["total"] == 0
    relisted = await api.post(
        "/suppressions", json={"address": "annlee@gmail.com", "reason": "asked again"}
    )
    assert relisted.status_code == 201


async def test_bad_suppression_requests_name_the_field(api: httpx.AsyncClient) -> None:
    not_an_address = await api.post("/suppressions", json={"address": "ann", "reason": "x"})
    no_reason = await api.post("/suppressions", json={"address": "ann@example.com"})
    injected = await api.post(
        "/suppressions", json={"address": "ann@example.com", "reason": "a\r\nb"}
    )
    unknown = await api.post(
        "/suppressions/remove", json={"address": "zoe@example.com", "reason": "x"}
    )

    assert not_an_address.status_code == 422 and "address" in problems(not_an_address)
    assert no_reason.status_code == 422 and "reason" in problems(no_reason)
    assert injected.status_code == 422 and "reason" in problems(injected)
    assert unknown.status_code == 404 and "not on the list" in unknown.text
    assert (await api.get("/suppressions")).json()["total"] == 0


async def test_tracking_is_off_unless_asked_for_and_can_be_switched(
    api: httpx.AsyncClient,
) -> None:
    campaign_id = await make_campaign(api)
    created = (await api.get(f"/campaigns/{campaign_id}")).json()["campaign"]

    switched = await api.put(
        f"/campaigns/{campaign_id}/tracking", json={"track_opens": True, "track_clicks": False}
    )

    assert (created["track_opens"], created["track_clicks"]) == (False, False)
    assert (switched.json()["track_opens"], switched.json()["track_clicks"]) == (True, False)


async def test_a_forged_unsubscribe_or_tracking_token_changes_nothing(
    api: httpx.AsyncClient, public: httpx.AsyncClient
) -> None:
    post = await public.post(
        "/unsubscribe/WzFd.forged",
        content="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    page = await public.get("/unsubscribe/WzFd.forged")
    click = await public.get("/track/click/WzEsMV0.forged", follow_redirects=False)
    pixel = await public.get("/track/open/WzFd.forged")

    assert post.status_code == 400 and page.status_code == 400
    assert click.status_code == 404 and "location" not in click.headers
    assert pixel.status_code == 200 and pixel.headers["content-type"] == "image/gif"
    assert (await api.get("/suppressions")).json()["total"] == 0
