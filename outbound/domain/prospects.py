"""Request and response shapes of prospects, their addresses and phone numbers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, field_validator, model_validator

from outbound.domain.phones import MAX_PHONES_PER_PROSPECT, PhoneNumber
from outbound.domain.problems import FieldProblem
from outbound.domain.statuses import AddressType, PhoneType
from outbound.domain.validators import TimeZoneName, email_address, single_line

FieldName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
NO_CONTACT = "give an email address or a phone number"
"""Why a prospect with neither was refused (an all-SMS campaign needs no address)."""
MAX_PROSPECTS_PER_REQUEST = 10_000
"""Rows of one JSON list or CSV file; larger imports are split (the README says how)."""


class AddressIn(BaseModel):
    """One address, in the order of relevance it is listed."""

    address: Annotated[str, AfterValidator(email_address)]
    type: AddressType = AddressType.OTHER
    use_first: bool = Field(
        default=False, description="'Use this address first' (overrides order)."
    )


class PhoneIn(BaseModel):
    """One phone number, in the order of relevance it is listed; stored in E.164 (numbers
    without a leading + are read in the ``default_phone_region`` setting's region)."""

    number: PhoneNumber
    type: PhoneType = PhoneType.MOBILE


class ProspectCreate(BaseModel):
    """A person to contact; ``fields`` holds extra template variables.

    At least one email address or one phone number: an all-SMS campaign's
    contacts often have only a number (seed 004), an email one's only an address.
    """

    first_name: Annotated[str, Field(max_length=200), AfterValidator(single_line)] = ""
    last_name: Annotated[str, Field(max_length=200), AfterValidator(single_line)] = ""
    company: Annotated[str, Field(max_length=200), AfterValidator(single_line)] = ""
    title: Annotated[str, Field(max_length=200), AfterValidator(single_line)] = ""
    time_zone: TimeZoneName | None = None
    addresses: Annotated[list[AddressIn], Field(max_length=20)] = Field(default_factory=list)
    phones: Annotated[list[PhoneIn], Field(max_length=MAX_PHONES_PER_PROSPECT)] = Field(
        default_factory=list
    )
    fields: dict[FieldName, str] = Field(default_factory=dict)

    @field_validator("phones")
    @classmethod
    def _each_number_once(cls, phones: list[PhoneIn]) -> list[PhoneIn]:
        """A number listed twice (say as ``phone`` and ``mobile_phone``) keeps its first place."""
        first: dict[str, PhoneIn] = {}
        for phone in phones:
            first.setdefault(phone.number, phone)
        return list(first.values())

    @model_validator(mode="after")
    def _reachable(self) -> ProspectCreate:
        if not self.addresses and not self.phones:
            raise FieldProblem("addresses", NO_CONTACT)
        return self

    @field_validator("addresses")
    @classmethod
    def _one_first_at_most(cls, addresses: list[AddressIn]) -> list[AddressIn]:
        if sum(a.use_first for a in addresses) > 1:
            raise ValueError("at most one address can be marked use_first")
        return addresses


class AddressPublic(AddressIn):
    """A stored address."""

    position: int


class PhonePublic(PhoneIn):
    """A stored phone number (E.164)."""

    number: str
    position: int


class ProspectPublic(BaseModel):
    """A prospect as the API shows it."""

    id: int
    first_name: str
    last_name: str
    company: str
    title: str
    time_zone: str | None
    addresses: list[AddressPublic]
    phones: list[PhonePublic]
    fields: dict[str, str]
    created_at: datetime


class AddressOverride(BaseModel):
    """A per-campaign address for one prospect (PRODUCT.md: overrides keep the profile)."""

    address: Annotated[str, AfterValidator(email_address)]
