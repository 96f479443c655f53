"""Why a message was refused: the one table of reasons for SMTP answers and bounce reports.

An SMTP answer at send time (``outbound.mail.outcomes``) and a bounce report
that arrives days later (``outbound.inbound``) are read by the same
``read_answer``, so "is this address gone?" gets one answer whichever way the
refusal reached us.

The evidence is read from the most to the least specific:

1. words that name the failure exactly win over any code: "over quota" /
   "mailbox full" is a full mailbox whatever the status says (a ``5.1.1``
   beside a server text saying ``552 5.2.2 Over quota`` is not a dead
   address); "blocked using spamhaus" is our sending IP, not the recipient;
2. codes that name the party exactly: ``5.1.7``/``5.1.8`` (our sender
   address), ``5.7.26`` (our SPF/DKIM/DMARC), ``5.7.13`` (the recipient's
   account disabled), then the recipient codes (``x.1.1``, ``x.1.2``,
   ``x.2.1``, ``x.2.2`` …);
3. a generic code (``5.0.0``, ``5.5.0``, none) with the words that say the
   address does not exist, in the wordings of many MTAs and languages;
4. what is left: the class of the code.

Only three reasons mean the address is gone (``user_unknown``,
``host_unknown``, ``mailbox_disabled``), and only when the failure is final
and the words do not say it is temporary. Everything about our side (sender
address, authentication, blocklists, reputation, rate) never condemns the
recipient.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Party(StrEnum):
    """Whose problem a refusal is."""

    RECIPIENT = "recipient"  # the address or its mailbox
    SENDER = "sender"  # our mailbox: its address, authentication, IP, reputation, rate
    MESSAGE = "message"  # this message: its size, content, headers
    TRANSIT = "transit"  # the way there: DNS, network, queues, the remote system


class Reason(StrEnum):
    """The reasons a message is refused, as both the send path and bounce reports name them."""

    USER_UNKNOWN = "user_unknown"
    HOST_UNKNOWN = "host_unknown"
    MAILBOX_DISABLED = "mailbox_disabled"
    MAILBOX_FULL = "mailbox_full"
    MESSAGE_TOO_BIG = "message_too_big"
    CONTENT_REJECTED = "content_rejected"
    SPAM_DETECTED = "spam_detected"
    BLOCKED = "blocked"
    POLICY = "policy"
    AUTH_FAILURE = "auth_failure"
    SENDER_REJECTED = "sender_rejected"
    RELAY_DENIED = "relay_denied"
    RATE_LIMITED = "rate_limited"
    EXPIRED = "expired"
    NETWORK_ERROR = "network_error"
    SYSTEM_ERROR = "system_error"
    UNDEFINED = "undefined"

    @property
    def party(self) -> Party:
        return _PARTY[self]

    @property
    def address_gone(self) -> bool:
        """The address itself cannot receive mail (when the failure is final)."""
        return self in _GONE


_GONE = frozenset({Reason.USER_UNKNOWN, Reason.HOST_UNKNOWN, Reason.MAILBOX_DISABLED})
_PARTY = {
    Reason.USER_UNKNOWN: Party.RECIPIENT,
    Reason.HOST_UNKNOWN: Party.RECIPIENT,
    Reason.MAILBOX_DISABLED: Party.RECIPIENT,
    Reason.MAILBOX_FULL: Party.RECIPIENT,
    Reason.MESSAGE_TOO_BIG: Party.MESSAGE,
    Reason.CONTENT_REJECTED: Party.MESSAGE,
    Reason.SPAM_DETECTED: Party.SENDER,
    Reason.BLOCKED: Party.SENDER,
    Reason.POLICY: Party.SENDER,
    Reason.AUTH_FAILURE: Party.SENDER,
    Reason.SENDER_REJECTED: Party.SENDER,
    Reason.RELAY_DENIED: Party.SENDER,
    Reason.RATE_LIMITED: Party.SENDER,
    Reason.EXPIRED: Party.TRANSIT,
    Reason.NETWORK_ERROR: Party.TRANSIT,
    Reason.SYSTEM_ERROR: Party.TRANSIT,
    Reason.UNDEFINED: Party.TRANSIT,
}


@dataclass(frozen=True)
class Reading:
    """What a server's answer (or a report about one) says."""

    reason: Reason
    enhanced: str | None  # the enhanced status code that was taken, e.g. "5.1.1"
    code: int | None  # the basic reply code, e.g. 550
    temporary: bool  # the words say it may pass ("temporarily", "try again later")
    specific: bool = True  # named by exact words or a code, not only by general words

    def address_gone(self, final: bool) -> bool:
        """Whether the address should be suppressed: a recipient-gone reason, a failure that
        is final (a 5xx answer, or a report's ``Action: failed``), not said to be temporary."""
        return self.reason.address_gone and final and not self.temporary


MAX_WORDS = 1500  # what is read of an answer or a notice: the reason comes first
ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
BASIC = re.compile(r"(?<![\d.#\w-])([245][0-5]\d)(?=[ -]|$|:|,)")
# A long answer folded by the server repeats its codes on every line ("550-5.7.1 …").
_CODE_PREFIX = re.compile(r"(?<![\w.-])([245]\d\d)[ -]([245]\.\d{1,3}\.\d{1,3} )?")
_MAIL_FROM_STAGE = re.compile(r"after mail from|in reply to mail from|\bmail from\b.*:\s*$", re.I)


def _words(*alternatives: str) -> re.Pattern[str]:
    """Alternatives written in lower case, matched against lower-cased text (twice as fast
    as a case-insensitive pattern, and these run on every answer and notice)."""
    return re.compile("|".join(alternatives))


# 1. Words specific enough to beat any code, in the order they are tried.
_FULL = _words(
    r"mailbox (?:is )?full",
    r"mailbox size limit",
    r"\bover ?quota\b",
    r"\bquota (?:exceeded|violation|full)\b",
    r"\bexceed(?:s|ed|ing)? (?:the |their |its )?(?:allowed |storage )?(?:quota|disk space)",
    r"disk quota",
    r"(?:storage|mailbox) quota exceeded",
    r"out of storage space",
    r"mailfolder is full",
    r"mail box space not enough",
    r"insufficient (?:disk )?storage(?! system)",
    r"too many messages on the server|zuviele mails",
    r"number of messages in recipient's mailbox exceeded",
    r"account is full",
    r"mailbox (?:exceeds|has exceeded)",
    r"postponed due to a full mailbox",
    r"boîte (?:aux lettres )?pleine|casella piena|buzón lleno|postfach (?:ist )?voll",
)
_AUTH = _words(
    r"\b(?:dmarc|spf|dkim)\b[^.]{0,40}\b(?:fail|polic|reject|hard|not pass|not authori)",
    r"\bbad (?:spf|dkim|dmarc)\b",
    r"\b(?:fail|pass|violat|not accepted due to)\w*[^.]{0,30}\b(?:dmarc|spf|dkim)\b",
    r"\bsender policy framework\b",
    r"unauthenticated (?:email|mail|senders?)",
    r"authentication (?:checks? )?failed",
    r"does not have authentication information",
    r"required authentication level",
    r"turn on smtp authentication",
    r"is not allowed to send from .* per it's spf",
)
_RELAY = _words(
    r"\bno relaying\b",
    r"relay(?:ing)? (?:access )?(?:denied|not permitted|prohibited)",
    r"not (?:permitted|configured|allowed) to relay",
    r"unable to relay",
    r"insecure mail relay",
    r"as a relay",
    r"relaying denied",
    r"allowed rcpthosts",
)
_SENDER = _words(
    r"sender (?:address )?rejected",
    r"sender rejected",
    r"sender address (?:is )?(?:invalid|not (?:accepted|allowed))",
    r"domain of sender address .* does not exist",
    r"unroutable sender",
    r"sender domain (?:does not exist|not found|is invalid)",
    r"purported responsible address",
    r"email address is not verified",
    r"domain is invalid\. please provide a valid from",
    r"custom ?from ?denied|send mail as",
    r"sender was rejected",
    r"mail ?from domain .* does not exist|\bdoes not exist\b.*\bmail from\b",
)
_RATE = _words(
    r"rate limit",
    r"rate that prevents",
    r"too many (?:messages|connections|recipients|mails)",
    r"sent to too many recipients",
    r"(?:connection|ip) frequency limited",
    r"unexpected volume",
    r"temporarily (?:deferred|rate limited)",
    r"daily (?:user )?(?:sending|relay) (?:limit|quota)",
    r"sending (?:quota|limit)",
    r"server busy",
    r"\bexceeded\b.*\b(?:limit|quota)\b(?!.*size)",
)
_SPAM = _words(
    r"\bspam(?!haus|cop|trap)|anti-?spam",
    r"\bube\b",
    r"unsolicited",
    r"bulk (?:e-?mail|mail)\b",
    r"\bmass mailer",
    r"\buribl\b",
    r"content filter",
    r"\bjunk\b",
    r"message (?:was )?(?:scored|classified|identified|flagged)",
    r"matches a profile",
    r"security polic(?:y|ies)",
)
_BLOCKED = _words(
    r"\bblocked (?:using|in|at) [\w-]+\.[\w.-]+",
    r"\bdnsbl\b|\b(?:blocked|rejected) - see|spam ?list",
    r"\bblack ?list(?:ed)?\b(?! (?:url|link))",
    r"\bblock ?list(?:ed)?\b",
    r"(?<!not )listed (?:in|on|at) (?!(?:domino|public name))",
    r"spamhaus|spamcop|sorbs|barracudacentral|cbl\.abuseat",
    r"banned sending ip",
    r"\bip (?:address )?(?:is )?(?:blocked|banned|blacklisted|listed)",
    r"client host (?:\[[^\]]*\] )?(?:rejected|blocked)",
    r"\bhost (?:network )?not allowed",
    r"reverse dns|\brdns\b|\bptr\b|ip name lookup failed|may not be mail exchanger",
    r"reputation",
    r"adresse ip source bloquee|client host blocked",
    r"(?:connections?|mail|messages) (?:not accepted |refused )?from servers without",
    r"mismatches client ip",
    r"invalid ip for sending",
    r"not allowed to send mail from",
    r"not accepting connections",
    r"open relay",
    r"adresse ip source bloquee",
    r"messages from [\d.]+ weren't sent",
    r"my name was rejected",
    r"blocked for abuse",
    r"\(bl\)",
)
_BLOCKED_WEAKLY = _words(r"\bblock(?:ed|list(?:ed)?) (?:by|for)\b", r"\bblocked\b")
_TOO_BIG = _words(
    r"too (?:large|big)",
    r"size (?:limit|exceeds|exceeded)",
    r"exceeds? (?:the )?(?:maximum|fixed maximum) (?:inbound |incoming )?message size",
    r"message length exceeds",
    r"message size \d+ exceeds",
    r"maximum (?:incoming |inbound )?message size",
    r"max message size exceeded",
    r"sizelimit|size=message too big|class=size",
    r"line limit exceeded",
)
_FORMAT = _words(
    r"header error|duplicate header|multiple addresses in from|not rfc ?5322 compliant",
    r"8-bit data in message header|headers too large|no resent-from",
    r"content presents a potential",
)
_CONTENT = _words(
    r"virus (?:detected|found)|infected|contains? (?:a |an? )?virus"
    r"|\bvirus\b(?! ?(?:wall|database|scan|definition|software|in\b))",
    r"content rejected|content reject|message content",
    r"media error",
    r"not accepting mail with attachments",
)
_DISABLED = _words(
    r"\b(?:account|mailbox|address|user|recipient)\b[^;]{0,60}?\b(?:is |has been |was )?"
    r"(?:disabled|deactivated|inactive|suspended|frozen|locked|discontinued|blocked|bloque)\b",
    r"\b(?:disabled|deactivated|inactive|suspended|frozen|locked) (?:recipient|mailbox|account"
    r"|email address|address|user)",
    r"is a deactivated mailbox",
    r"no longer (?:active|in use)",
    r"\[suspend\]",
    r"konto niedost[eę]pne",
    r"le compte du destinataire est bloqu",
)
_HOST = _words(
    r"name or service not known",
    r"\bhost [\w.-]+\.[a-z]{2,} not found",
    r"\bhost (?:or domain name )?(?:not found|unknown)\b(?!,? try again)",
    r"\bunknown host\b",
    r"domain (?:name )?not found",
    r"no such domain",
    r"domain (?:does not|doesn't) (?:exist|receive e?mail)",
    r"doesn't receive email",
    r"does not accept mail",
    r"(?:null|no) mx\b|no mx record|mx or srv record indicated no smtp service",
    r"couldn't find (?:any host named|a mail exchanger)",
    r"could not find a mail exchanger",
    r"illegal host/domain",
    r"invalid domain\b(?! name)",
    r"\bnxdomain\b",
    r"unrouteable address",
    r"domain .* couldn't be found",
    r"name server: [^:]*: host not found",
    r"lookup of \S+ (?:responded with code nxdomain|had no relevant answers)",
)
_USER = _words(
    r"\buser(?:name)? (?:unknown|not found|not known|not exist|doesn't exist|does not exist)",
    r"\bunknown (?:user|recipient|e-?mail address|local part)",
    r"\brecipient (?:unknown|not found|does not exist|doesn't exist)",
    r"\baddressee unknown",
    r"\bno such (?:user|mailbox|recipient|address|account|local user)",
    r"\bno (?:mailbox|account) (?:here )?by that name",
    r"\bno mail ?box (?:available|found|here)",
    r"\bmailbox (?:not found|unavailable|does not exist|doesn't exist|not available)",
    r"\b(?:user|recipient|rcpt|address|account|mailbox) [^;]{0,80}?(?:does not|doesn't) exist",
    r"\b(?:e-?mail )?account (?:that )?you tried to reach does not exist",
    r"\baddress (?:couldn't|could not) be found",
    r"wasn't found at the destination",
    r"\binvalid (?:recipient|mailbox|user|address|final delivery userid)",
    r"\bbad destination mailbox address",
    r"\bbad_recipient|badrcptto",
    r"\bnot (?:a )?(?:valid|known|registered)(?: gateway)? (?:user|mailbox|recipient)",
    r"\bis not an active address",
    r"that's not a valid user",
    r"\bnot (?:our|my) (?:user|customer)",
    r"\bnot listed in (?:domino directory|public name & address book)",
    r"\bno longer on (?:this )?server|has moved|mailbox has moved",
    r"\bdoesn't have an? [\w.-]{1,40} account",
    r"\b(?:recipient )?name is not recognized",
    r"\bunknown or illegal (?:user|alias)",
    r"\bno valid recipients",
    r"\bdid not exactly match an? [\w.-]+ email address",
    r"fails to locate either",
    r"does not have a final email delivery point",
    r"\bwrong or no longer valid",
    r"\brecipient rejected: no account",
    r"\bno account by that name",
    r"\bdestinataire (?:invalide|inconnu)",
    r"\badresse (?:destinataire )?invalide",
    r"\bn'existe pas",
    r"non recens[ée]",
    r"\bempf(?:ae|ä)nger unbekannt|\bbenutzer unbekannt|\bunbekannter empf",
    r"\busuario (?:desconocido|inexistente)|\bno existe\b",
    r"\butente (?:sconosciuto|inesistente)|\bnon esiste\b",
    r"\bnie istnieje",
    r"\bне существует|\bпользователь не найден|\bнет такого пользователя",
    r"用户不存在|帐号不存在|账号不存在|收件人不存在",
    r"(?:ディレクトリ|ユーザ|アドレス|宛先)[^。]{0,30}(?:存在しません|見つかりません|ありません)",
)
_REFUSED_BY_RECIPIENT = _words(
    r"groups\.google\.com",
    r"may not exist,? or (?:that )?you (?:may )?not have permission",
    r"recipient preferences",
    r"not accepting mail (?:from|with)",
    r"rejected by the domain filter",
    r"sender not pre-approved|waitlisted",
    r"awaits moderator approval|is being held until the list moderator",
    r"you are not (?:a )?member",
    r"has restricted sms e-?mail",
    r"requires confirmation",
    r"cannot send e-?mail to yourself",
)
_EXPIRED = _words(
    r"\bexpired\b",
    r"retry timeout exceeded",
    r"(?:queue|been in the queue) too long|in the queue too long",
    r"could not be delivered for (?:too long|\d+ (?:hours?|days?))",
    r"could not deliver for the last",
    r"delivery failed \d+ attempts",
    r"maximum delivery attempts",
    r"after multiple retries",
    r"failing for a long time",
    r"not collected after",
    r"not delivered within",
    r"cannot send message for",
    r"not reachable within the allowed queue period",
    r"maximum-time-expired|message timed out",
    r"giving up\b",
)
_DNS_TROUBLE = _words(
    r"malformed (?:or unexpected )?name server reply",
    r"could not find a gateway",
    r"host not found, try again",
)
_SPAM_FIRST = _words(
    r"anti-?spam",
    r"spam (?:score|classification|content|pattern)",
    r"(?:identified|classified|scored|detected|flagged|rejected) as spam",
    r"looks? like spam|appears to be spam|probable spam|\bdspam\b",
)
_LOCAL_DELIVERY = _words(
    r"mailer error|command died|command output|procmail|maildrop|\bpipe to\b",
    r"unknown mailer error|\bmail\.local:|local delivery failed|lock failure",
)
_SERVICE_REFUSED = _words(
    r"service refus",
    r"support tls|starttls|tls (?:required|not available)",
    r"insufficient (?:system )?(?:resources|disk space)|not enough disk space",
)
_NETWORK = _words(
    r"hop count exceeded|mail loop",
    r"connection (?:timed out|refused|reset|lost)",
    r"lost connection",
    r"timed out",
    r"name service error|name server reply|host not found, try again",
    r"dns (?:error|query failed|lookup failure)|host name lookup failure",
    r"routing loop|too many hops|forwarding loop|message looping|forwarded more than",
    r"not reachable|host unreachable|network is unreachable|no route to host",
    r"socket error",
    r"could not find a gateway",
    r"refused to talk to me",
    r"did not accept our requests to connect",
    r"wasn't able to establish an smtp connection",
    r"no answer from host|unable to connect|failed connect",
)
_SYSTEM = _words(
    r"system (?:error|problem|config)",
    r"insufficient (?:system )?(?:resources|disk space)|not enough disk space",
    r"temporary (?:failure|problem)|temporarily unavailable",
    r"mailer error|command died|command output|procmail|maildrop|\bpipe to\b",
    r"service (?:currently )?unavailable|service refus",
    r"try (?:again )?later",
    r"local (?:problem|error)|operating system error",
    r"upstream error",
    r"ldap",
    r"improper sequence|command parameter not implemented",
)
_POLICY = _words(
    r"violation",
    r"\bpolic(?:y|ies)\b",
    r"access denied",
    r"not authori[sz]ed",
    r"\brefused\b|\brejected\b|\bdenied\b",
    r"filter",
    r"not (?:a )?member",
    r"recipient preferences",
    r"restricted",
    r"cannot send e-?mail to yourself",
)
_TEMPORARY = _words(
    r"temporar",
    r"try (?:again )?later",
    r"currently (?:suspended|locked|unavailable)",
)

_CODE_REASONS: dict[str, Reason] = {
    "1.1": Reason.USER_UNKNOWN,
    "1.3": Reason.USER_UNKNOWN,
    "1.6": Reason.USER_UNKNOWN,
    "1.2": Reason.HOST_UNKNOWN,
    "1.10": Reason.HOST_UNKNOWN,
    "1.7": Reason.SENDER_REJECTED,
    "1.8": Reason.SENDER_REJECTED,
    "2.1": Reason.MAILBOX_DISABLED,
    "2.2": Reason.MAILBOX_FULL,
    "2.3": Reason.MESSAGE_TOO_BIG,
    "3.4": Reason.MESSAGE_TOO_BIG,
    "4.4": Reason.HOST_UNKNOWN,
    "4.7": Reason.EXPIRED,
    "7.13": Reason.MAILBOX_DISABLED,
    "7.23": Reason.AUTH_FAILURE,
    "7.25": Reason.BLOCKED,
    "7.26": Reason.AUTH_FAILURE,
    "7.27": Reason.SENDER_REJECTED,
    "7.509": Reason.AUTH_FAILURE,
    "7.515": Reason.AUTH_FAILURE,
    "7.606": Reason.BLOCKED,
    "7.650": Reason.RATE_LIMITED,
    "7.28": Reason.RATE_LIMITED,
    "4.5": Reason.RATE_LIMITED,
    "5.3": Reason.RATE_LIMITED,
}
# Codes that name the party so exactly that no wording overrides them.
_DECISIVE = frozenset({"1.7", "1.8", "7.26", "7.509", "7.515"})
# The subject classes (RFC 3463) when nothing more specific is known.
_CLASS_REASONS = {
    "1": Reason.UNDEFINED,
    "2": Reason.UNDEFINED,
    "3": Reason.SYSTEM_ERROR,
    "4": Reason.NETWORK_ERROR,
    "5": Reason.SYSTEM_ERROR,
    "6": Reason.CONTENT_REJECTED,
    "7": Reason.POLICY,
}
_GENERIC_DETAILS = frozenset({"0.0", "5.0", "3.0", "2.0", "1.0", "0.900"})


def read_answer(text: str, status: str | None = None, code: int | None = None) -> Reading:
    """The reason a server gave (``text``: its answer, or a report's diagnostic and notice
    text; ``status``: a report's Status field; ``code``: the reply code, when known).

    The codes in the server's own words come before the report's Status: the reporting
    MTA writes the Status, and one that only had a basic reply code ("550 recipient
    rejected") often makes up a ``5.1.1`` for it, so such a Status is taken only when
    the words say nothing."""
    text = _unfolded(" ".join(text.replace("’", "'").split())[:MAX_WORDS])
    codes = list(dict.fromkeys(m.group(0) for m in ENHANCED.finditer(text)))
    basic = code if code is not None else _basic(text)
    given = ENHANCED.search(status or "")
    made_up = given is not None and not codes and basic is not None
    if given and given.group(0) not in codes:
        codes.append(given.group(0))
    enhanced = _most_specific(codes)
    lowered = text.lower()
    reason, specific = _reason(lowered, [] if made_up else codes, enhanced, basic)
    if made_up and (not specific or reason is Reason.UNDEFINED) and given:
        detail = given.group(0).partition(".")[2]
        if reason in (Reason.UNDEFINED, Reason.SYSTEM_ERROR) and detail in _CODE_REASONS:
            reason, specific = _CODE_REASONS[detail], True
    if _MAIL_FROM_STAGE.search(lowered):  # refused at MAIL FROM: about us, not the recipient
        if reason.address_gone:
            reason, specific = Reason.SENDER_REJECTED, True
        elif reason is Reason.UNDEFINED:
            reason = Reason.POLICY
    temporary = bool(_TEMPORARY.search(lowered))
    return Reading(reason, enhanced, basic, temporary, specific)


def _unfolded(text: str) -> str:
    """The answer without the code prefix repeated on each folded line."""
    first = _CODE_PREFIX.search(text)
    if first is None:
        return text
    enhanced = (first.group(2) or "").strip()
    prefix = re.escape(first.group(1)) + r"[ -]" + (re.escape(enhanced) if enhanced else "")
    repeated = re.compile(r" " + prefix + r"[ -]?(?=\S)")
    return text[: first.end()] + repeated.sub(" ", text[first.end() :])


def _basic(text: str) -> int | None:
    found = BASIC.search(text)
    return int(found.group(1)) if found else None


def _most_specific(codes: list[str]) -> str | None:
    """The first code that is not generic (``5.0.0``), else the first one."""
    for candidate in codes:
        if candidate.partition(".")[2] not in _GENERIC_DETAILS:
            return candidate
    return codes[0] if codes else None


def _reason(
    text: str, codes: list[str], enhanced: str | None, basic: int | None
) -> tuple[Reason, bool]:
    """The reason, and whether exact words or a code named it."""
    details = [c.partition(".")[2] for c in codes]
    decisive = next((d for d in details if d in _DECISIVE), None)
    if decisive is not None:
        return _CODE_REASONS[decisive], True
    for pattern, reason in _SPECIFIC_WORDS:
        if pattern.search(text):
            return _refined(reason, text), True
    detail = enhanced.partition(".")[2] if enhanced and enhanced in codes else ""
    if detail == "4.1" and re.search(r"access denied", text, re.IGNORECASE):
        return Reason.USER_UNKNOWN, True  # Exchange Online's directory-based edge blocking
    if detail in _CODE_REASONS:
        return _CODE_REASONS[detail], True
    if basic == 521:  # RFC 7504: the host does not accept mail at all
        return Reason.HOST_UNKNOWN, True
    for pattern, reason in _GENERAL_WORDS:
        if pattern.search(text):
            return reason, False
    if detail and detail not in _GENERIC_DETAILS:
        return _CLASS_REASONS.get(detail.partition(".")[0], Reason.UNDEFINED), False
    if basic is not None and 400 <= basic < 500:
        return Reason.SYSTEM_ERROR, False
    return Reason.UNDEFINED, False


def _refined(reason: Reason, text: str) -> Reason:
    """ "User unknown" said about our *sender* address is ours, not the recipient's."""
    if reason is Reason.USER_UNKNOWN and re.search(
        r"\bsender\b[^.;]{0,30}(?:user unknown|unknown user|does not exist)", text, re.IGNORECASE
    ):
        return Reason.SENDER_REJECTED
    return reason


_SPECIFIC_WORDS: list[tuple[re.Pattern[str], Reason]] = [
    (_FULL, Reason.MAILBOX_FULL),
    (_RATE, Reason.RATE_LIMITED),
    (_FORMAT, Reason.CONTENT_REJECTED),
    (_AUTH, Reason.AUTH_FAILURE),
    (_RELAY, Reason.RELAY_DENIED),
    (_SENDER, Reason.SENDER_REJECTED),
    (_TOO_BIG, Reason.MESSAGE_TOO_BIG),
    (_SPAM_FIRST, Reason.SPAM_DETECTED),
    (_BLOCKED, Reason.BLOCKED),
    (_SPAM, Reason.SPAM_DETECTED),
    (_CONTENT, Reason.CONTENT_REJECTED),
    (_SERVICE_REFUSED, Reason.SYSTEM_ERROR),
    (_REFUSED_BY_RECIPIENT, Reason.POLICY),
    (_DISABLED, Reason.MAILBOX_DISABLED),
    (_BLOCKED_WEAKLY, Reason.BLOCKED),
    (_HOST, Reason.HOST_UNKNOWN),
    (_DNS_TROUBLE, Reason.NETWORK_ERROR),
    (_USER, Reason.USER_UNKNOWN),
    (_LOCAL_DELIVERY, Reason.SYSTEM_ERROR),
    (_EXPIRED, Reason.EXPIRED),
]
_GENERAL_WORDS: list[tuple[re.Pattern[str], Reason]] = [
    (_NETWORK, Reason.NETWORK_ERROR),
    (_SYSTEM, Reason.SYSTEM_ERROR),
    (_POLICY, Reason.POLICY),
]
