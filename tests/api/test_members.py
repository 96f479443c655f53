"""Roles in one workspace: members, shared mailboxes ("send as the hiring manager"), keys
that stop with their user, the last admin kept, and the audit log of who did what."""

from __future__ import annotations

import httpx

from tests.api.test_bad_input import MAILBOX

STEP = {"subject": "Hi {{ first_name }}", "body": "A role."}


async def member_client(api: httpx.AsyncClient, email: str) -> tuple[int, httpx.AsyncClient]:
    user = await api.post("/users", json={"email": email, "role": "member"})
    assert user.status_code == 201, user.text
    key = await api.post("/keys", json={"user_id": user.json()["id"], "name": email})
    assert key.status_code == 201 and key.json()["key"].startswith(key.json()["prefix"])
    client = httpx.AsyncClient(
        transport=api._transport,
        base_url=str(api.base_url),
        headers={"Authorization": f"Bearer {key.json()['key']}"},
    )
    return user.json()["id"], client


async def test_a_member_sends_only_through_a_mailbox_shared_with_them(
    api: httpx.AsyncClient,
) -> None:
    manager_box = (await api.post("/mailboxes", json=MAILBOX)).json()["id"]
    admins_campaign = await api.post(
        "/campaigns", json={"name": "Admin's", "mailbox_id": manager_box, "steps": [STEP]}
    )
    sam_id, sam = await member_client(api, "sam@example.com")
    campaign = {"name": "Sam's", "mailbox_id": manager_box, "steps": [STEP]}

    refused = await sam.post("/campaigns", json=campaign)
    granted = await api.post(f"/mailboxes/{manager_box}/grants", json={"user_id": sam_id})
    sees = await sam.get("/mailboxes")
    made = await sam.post("/campaigns", json=campaign)

    assert refused.status_code == 422
    assert refused.json()["detail"] == [
        {"field": "mailbox_id", "reason": f"mailbox {manager_box} not found"}
    ]
    assert granted.status_code == 201
    assert [m["id"] for m in sees.json()] == [manager_box]
    assert made.status_code == 201 and made.json()["owner"] == "sam@example.com"
    assert [c["name"] for c in (await sam.get("/campaigns")).json()] == ["Sam's"]
    assert (await sam.get(f"/campaigns/{admins_campaign.json()['id']}")).status_code == 404
    assert {c["name"] for c in (await api.get("/campaigns")).json()} == {"Admin's", "Sam's"}

    # The grant taken back: no new campaign on it; the running one stays the member's.
    assert (await api.delete(f"/mailboxes/{manager_box}/grants/{sam_id}")).status_code == 200
    assert (await sam.post("/campaigns", json=campaign)).status_code == 422
    assert (await sam.get(f"/campaigns/{made.json()['id']}")).status_code == 200
    await sam.aclose()


async def test_a_removed_user_s_keys_stop_and_the_last_admin_stays(
    api: httpx.AsyncClient,
) -> None:
    sam_id, sam = await member_client(api, "sam@example.com")
    me = (await api.get("/me")).json()

    assert (await sam.get("/me")).status_code == 200
    assert (await api.delete(f"/users/{sam_id}")).status_code == 200
    assert (await sam.get("/me")).status_code == 401
    demoted = await api.patch(f"/users/{me['user_id']}", json={"role": "member"})
    assert demoted.status_code == 409 and "only admin" in demoted.text
    assert (await api.get("/me")).json()["role"] == "admin"
    await sam.aclose()


async def test_the_audit_log_says_who_did_what_to_which_object(api: httpx.AsyncClient) -> None:
    me = (await api.get("/me")).json()
    mailbox = (await api.post("/mailboxes", json=MAILBOX)).json()["id"]
    campaign = (
        await api.post("/campaigns", json={"name": "c", "mailbox_id": mailbox, "steps": [STEP]})
    ).json()["id"]
    refused = await api.put(f"/campaigns/{campaign}/tracking", json={"track_opens": "maybe"})
    assert refused.status_code == 422
    await api.put(f"/campaigns/{campaign}/tracking", json={"track_opens": True})

    page = (await api.get("/audit", params={"object_type": "campaign"})).json()
    entries = [(e["method"], e["route"], e["object_id"], e["status_code"]) for e in page["items"]]
    assert entries == [
        ("PUT", "/campaigns/{campaign_id}/tracking", str(campaign), 200),
        ("PUT", "/campaigns/{campaign_id}/tracking", str(campaign), 422),
        ("POST", "/campaigns", str(campaign), 201),
    ]
    assert {(e["user_id"], e["key_prefix"]) for e in page["items"]} == {
        (me["user_id"], me["key_prefix"])
    }
    assert (await api.get("/audit", params={"user_id": me["user_id"] + 99})).json()["items"] == []


async def test_a_key_shows_when_it_was_last_used_and_never_its_secret(
    api: httpx.AsyncClient,
) -> None:
    _, sam = await member_client(api, "sam@example.com")

    def sams_key(keys: list[dict[str, object]]) -> dict[str, object]:
        [key] = [k for k in keys if k["name"] == "sam@example.com"]
        return key

    before = sams_key((await api.get("/keys")).json())
    assert (await sam.get("/me")).status_code == 200
    after = sams_key((await api.get("/keys")).json())

    assert before["last_used_at"] is None
    assert after["last_used_at"] is not None
    assert "key" not in after and str(after["prefix"]).startswith("obk_")
    await sam.aclose()
