"""Headers that carry URLs and message ids, written the way their RFCs say.

Python's email package folds a long unstructured header by turning words into
RFC 2047 encoded words (``=?utf-8?q?=3Cmailto=3A…?=``). That is right for a
subject, and wrong for ``List-Unsubscribe`` (RFC 2369: angle-bracketed URLs,
separated by commas), ``List-Unsubscribe-Post`` (RFC 8058) and the threading
headers (RFC 5322 msg-ids): receivers parse those values, find no URL or id
inside an encoded word, and drop the one-click unsubscribe or the thread.

These headers are ASCII by construction (percent-encoded URLs, our own
Message-IDs), so they are folded only at the whitespace between their
elements and never encoded. An element longer than a line stays whole on a
line of its own: RFC 5322 allows up to 998 characters, and RFC 2369 asks
that a URL not be broken.
"""

from __future__ import annotations

import email.policy
from email.headerregistry import BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.policy import EmailPolicy
from typing import Any, cast

RFC5322_LINE_LIMIT = 998
VERBATIM_HEADERS = ("list-unsubscribe", "list-unsubscribe-post", "in-reply-to", "references")


class VerbatimHeader(UnstructuredHeader):
    """A header of ASCII elements, folded only between them, never encoded."""

    name: str  # given by email.headerregistry.BaseHeader, which the registry mixes in

    def fold(self, *, policy: Any) -> str:
        value = " ".join(str(self).split())
        if not value.isascii():
            raise ValueError(f"{self.name} carries URLs or ids and must be ASCII")
        limit = policy.max_line_length or RFC5322_LINE_LIMIT
        lines, line = [], f"{self.name}:"
        for index, element in enumerate(value.split(" ")):
            if index and len(line) + 1 + len(element) > limit:
                lines.append(line)
                line = ""
            line += f" {element}"
        lines.append(line)
        if any(len(line) > RFC5322_LINE_LIMIT for line in lines):
            raise ValueError(f"{self.name} has an element longer than a mail line may be")
        linesep: str = policy.linesep
        return linesep.join(lines) + linesep


def _registry() -> HeaderRegistry:
    registry = HeaderRegistry()
    for name in VERBATIM_HEADERS:
        registry.map_to_type(name, cast("type[BaseHeader]", VerbatimHeader))
    return registry


OUTGOING_POLICY: EmailPolicy[EmailMessage] = email.policy.default.clone(header_factory=_registry())
"""The policy of every message we compose (the SMTP send serialises it with CRLF)."""
