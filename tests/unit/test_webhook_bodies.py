"""The bodies of the webhook routes: found by the bad-input drill, a PATCH with
``"events": null`` once raised a TypeError (a 500) instead of leaving the events be."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from outbound.domain.webhooks import WebhookCreate, WebhookUpdate


def test_a_patch_with_null_events_leaves_them_as_they_are() -> None:
    assert WebhookUpdate.model_validate({"events": None, "enabled": True}).events is None


@pytest.mark.parametrize("model", [WebhookCreate, WebhookUpdate])
def test_an_event_named_twice_is_refused_naming_events(model: type) -> None:
    body = {"url": "https://crm.example.com/h", "events": ["message.sent", "message.sent"]}
    with pytest.raises(ValidationError) as refused:
        model.model_validate(body)
    assert refused.value.errors()[0]["loc"] == ("events",)


def test_create_needs_events() -> None:
    with pytest.raises(ValidationError):
        WebhookCreate.model_validate({"url": "https://crm.example.com/h", "events": None})
