"""A workspace's sending rules: how many messages one mailbox may send to one recipient
domain (per clock hour and per day), and how long a prospect rests after a sequence
ends before another may begin."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from outbound.domain.problems import FieldProblem

MAX_NAMED_DOMAINS = 100
BIG_MAILBOX_PROVIDERS = (
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "msn.com",
    "yahoo.com",
    "icloud.com",
    "aol.com",
)
"""Their default caps are tighter (``Settings.domain_caps``)."""
DomainName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        min_length=3,
        max_length=253,
        pattern=r"^[a-z0-9-]+(\.[a-z0-9-]+)+$",
    ),
]


class DomainCap(BaseModel):
    """Most messages per mailbox to one recipient domain."""

    model_config = ConfigDict(extra="forbid")

    hourly: int = Field(ge=1, le=1_000_000, description="Per clock hour (UTC).")
    daily: int = Field(ge=1, le=1_000_000, description="Per mailbox-local day.")

    @model_validator(mode="after")
    def _hour_within_day(self) -> DomainCap:
        if self.hourly > self.daily:
            raise FieldProblem("hourly", f"cannot be more than daily ({self.daily})")
        return self


class DomainCaps(BaseModel):
    """The caps that apply to one workspace's reservations (its own, else the defaults)."""

    default: DomainCap
    named: dict[str, DomainCap] = Field(default_factory=dict)

    def for_domain(self, domain: str) -> DomainCap:
        """The cap of ``domain`` (lower-cased)."""
        return self.named.get(domain, self.default)


class SendingRules(BaseModel):
    """The workspace's rules (``PUT /workspace/sending-rules``)."""

    model_config = ConfigDict(extra="forbid")

    domain_cap: DomainCap = Field(description="Any recipient domain not named below.")
    domain_caps: dict[DomainName, DomainCap] = Field(
        default_factory=dict,
        description='Tighter (or looser) caps for named domains, e.g. {"gmail.com": …}.',
    )
    recontact_cooldown_days: int = Field(
        default=0,
        ge=0,
        le=3650,
        description="A prospect whose sequence (any campaign) ended fewer days ago is refused "
        "at enrollment, with the date they become eligible, unless overridden (0: off).",
    )

    @model_validator(mode="after")
    def _bounded(self) -> SendingRules:
        if len(self.domain_caps) > MAX_NAMED_DOMAINS:
            count = len(self.domain_caps)
            raise FieldProblem(
                "domain_caps", f"at most {MAX_NAMED_DOMAINS} named domains (got {count})"
            )
        return self
