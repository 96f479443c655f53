"""The words that name why a message was refused, for ``outbound.mail.reasons``.

Each list holds patterns in lower case (they are matched against lower-cased
text) with the reason they name, by its value. ``SPECIFIC_WORDS`` are tried
before any status code and in their order (a full mailbox before anything, our
own problems before the recipient's, "user unknown" last); ``GENERAL_WORDS``
only when no code says more. The wordings come from real answers and bounces
of many MTAs and languages (``tests/inbound/corpus``).
"""

from __future__ import annotations

import re


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
TEMPORARY = _words(
    r"temporar",
    r"try (?:again )?later",
    r"currently (?:suspended|locked|unavailable)",
)


SPECIFIC_WORDS: list[tuple[re.Pattern[str], str]] = [
    (_FULL, "mailbox_full"),
    (_RATE, "rate_limited"),
    (_FORMAT, "content_rejected"),
    (_AUTH, "auth_failure"),
    (_RELAY, "relay_denied"),
    (_SENDER, "sender_rejected"),
    (_TOO_BIG, "message_too_big"),
    (_SPAM_FIRST, "spam_detected"),
    (_BLOCKED, "blocked"),
    (_SPAM, "spam_detected"),
    (_CONTENT, "content_rejected"),
    (_SERVICE_REFUSED, "system_error"),
    (_REFUSED_BY_RECIPIENT, "policy"),
    (_DISABLED, "mailbox_disabled"),
    (_BLOCKED_WEAKLY, "blocked"),
    (_HOST, "host_unknown"),
    (_DNS_TROUBLE, "network_error"),
    (_USER, "user_unknown"),
    (_LOCAL_DELIVERY, "system_error"),
    (_EXPIRED, "expired"),
]
GENERAL_WORDS: list[tuple[re.Pattern[str], str]] = [
    (_NETWORK, "network_error"),
    (_SYSTEM, "system_error"),
    (_POLICY, "policy"),
]
