"""Company rules of a campaign: what a colleague's ending does (the settings, the signal).

Who counts as a colleague is ``outbound.domain.company_key``. When one replies,
bounces hard or opts out, a campaign with a ``company_rule`` stops or pauses the
others (``outbound.store.colleagues``, ``outbound.workflows.colleagues``);
``one_per_company`` lets one of them at a time be under way.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from outbound.domain.statuses import ProspectStatus

COLLEAGUE_ENDED_SIGNAL = "colleague_ended"
WAITING_FOR_COLLEAGUE = "WaitingForColleague"
# What a colleague's ending is called in the reason of those it stopped or paused.
COLLEAGUE_REASONS = {
    ProspectStatus.REPLIED: "ColleagueReplied",
    ProspectStatus.BOUNCED: "ColleagueBounced",
    ProspectStatus.OPTED_OUT: "ColleagueOptedOut",
}


class CompanyRule(StrEnum):
    """What a prospect's reply, hard bounce or opt-out does to colleagues in the campaign."""

    OFF = "off"
    STOP = "stop"
    PAUSE = "pause"


class CompanyRuleFields(BaseModel):
    """A campaign's company rules (create, ``PUT /campaigns/{id}/company-rules``, and shown)."""

    company_rule: CompanyRule = Field(
        default=CompanyRule.OFF,
        description="When a prospect replies, bounces hard or opts out, the other prospects "
        "of the same company in this campaign are stopped (reason ColleagueReplied, "
        "ColleagueBounced or ColleagueOptedOut) or paused (the same reason; Resume goes on). "
        "Same company: the same address domain (free-mail domains aside) or the same "
        "company field.",
    )
    one_per_company: bool = Field(
        default=False,
        description="At most one prospect per company under way at a time: the others wait "
        "(NotStarted, reason WaitingForColleague) until that one's sequence ends. Applies to "
        "sequences started after it is set.",
    )


class CompanyRules(CompanyRuleFields):
    """The body of ``PUT /campaigns/{id}/company-rules``."""

    model_config = ConfigDict(extra="forbid")


class ColleagueEnded(BaseModel):
    """A colleague's sequence ended (the ``colleague_ended`` signal): apply ``rule``, and a
    prospect waiting for its company's turn looks again."""

    key: str = Field(description="De-duplication key: the colleague's enrollment and ending.")
    ended_as: ProspectStatus
    rule: CompanyRule = CompanyRule.OFF


class CompanyTurnRequest(BaseModel):
    """Ask whether this enrollment's company has another sequence under way."""

    enrollment_id: int


def colleague_reason(ended_as: ProspectStatus) -> str:
    """The reason shown on a prospect stopped or paused because a colleague ended so."""
    return COLLEAGUE_REASONS.get(ended_as, f"Colleague{ended_as.value}")


def stored_rule(rule: CompanyRule) -> str | None:
    """As ``campaign.company_rule`` keeps it: None for off."""
    return None if rule is CompanyRule.OFF else rule.value
