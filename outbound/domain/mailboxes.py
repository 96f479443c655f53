"""Request and response shapes of a sending mailbox."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from outbound.domain.statuses import TlsMode
from outbound.domain.validators import EmailAddress, SingleLine, TimeZoneName


class MailboxBase(BaseModel):
    """What a user tells us about a mailbox, minus its secret."""

    smtp_host: Annotated[str, Field(min_length=1, max_length=255)]
    smtp_port: Annotated[int, Field(ge=1, le=65535)] = 587
    tls_mode: TlsMode = TlsMode.STARTTLS
    username: SingleLine | None = None
    from_name: Annotated[SingleLine, Field(max_length=200)] = ""
    from_address: EmailAddress
    time_zone: TimeZoneName = "UTC"


class MailboxCreate(MailboxBase):
    """A new mailbox; the password is write-only and never returned."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "smtp_host": "127.0.0.1",
                    "smtp_port": 1025,
                    "tls_mode": "none",
                    "from_name": "Ada Recruiter",
                    "from_address": "ada@example.com",
                    "time_zone": "Europe/Berlin",
                }
            ]
        }
    )

    password: SecretStr | None = None


class MailboxPublic(MailboxBase):
    """A mailbox as the API shows it: whether a password is set, never the password."""

    id: int
    has_password: bool
    created_at: datetime
