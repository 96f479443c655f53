"""Read new mail from a mailbox's folder over IMAP (aioimaplib), for reply and bounce processing.

Inbox sync (PRODUCT.md rule 9) keeps one small cursor per mailbox folder, an
:class:`InboxPosition`: the folder's UIDVALIDITY and the highest UID already
handed over. Each call to :func:`fetch_new` returns what arrived after it and
the position to store once those messages have been processed. UIDs are the
only stable handle IMAP gives: sequence numbers shift with every expunge, and
\\Seen cannot be used because the user may read a reply in their own mail
client before we sync (so we never look at, nor change, flags).

The folder is opened read-only (EXAMINE) and bodies are read with
``BODY.PEEK[]``: the sync must never mark anything read in the user's mailbox.

Delivery to the caller is at least once: a crash after fetching but before the
new position is stored, or a UIDVALIDITY change (see :func:`fetch_new`), hands
the same message over again, so the caller de-duplicates (by Message-ID; the
enrollment workflow already ignores repeated inbound events).

Only implicit TLS (``tls=True``, usually port 993) or plain IMAP are supported;
aioimaplib has no STARTTLS.

Connections go through ``outbound.mail.hosts`` (host and port checked, the
socket opened to the checked address, TLS verified against the host name);
failing to connect or log in is told in a fixed reason, details in the log.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import UTC, date, datetime, timedelta

import aioimaplib
from pydantic import BaseModel, ConfigDict, Field

from outbound.mail.hosts import (
    CHECK_SECONDS,
    CHECK_STEP_SECONDS,
    Destination,
    HostPolicy,
    Unreachable,
    log_failure,
    unreachable,
)
from outbound.mail.oauth_sasl import BearerSource, imap_oauth_login
from outbound.oauth.errors import TokenRefused, TokenUnavailable

RESYNC_DAYS = 7
"""After a UIDVALIDITY change, how far back (by arrival date) mail is fetched again."""

_LOGOUT_SECONDS = 5.0
_log = logging.getLogger(__name__)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class ImapAccount(BaseModel):
    """Where a mailbox's incoming mail is read; the password never appears in a repr or an error."""

    model_config = ConfigDict(frozen=True)

    host: str
    port: int = Field(gt=0, lt=65536)
    tls: bool
    username: str
    password: str = Field(repr=False)
    bearer: BearerSource | None = Field(default=None, repr=False, exclude=True)
    folder: str = "INBOX"
    timeout_seconds: float = Field(default=30.0, gt=0)
    hosts: HostPolicy = Field(default_factory=HostPolicy, exclude=True)


class InboxPosition(BaseModel):
    """How far a folder has been read: everything up to ``last_uid`` under ``uidvalidity``."""

    model_config = ConfigDict(frozen=True)

    uidvalidity: int = Field(ge=1)
    last_uid: int = Field(ge=0)


class FetchedMessage(BaseModel):
    """One message exactly as stored on the server (RFC 822 bytes), with its UID."""

    model_config = ConfigDict(frozen=True)

    uid: int
    raw: bytes


class InboxBatch(BaseModel):
    """New messages in UID order and the position to store once they are processed.

    ``has_more`` says the ``limit`` cut the batch short: call again from ``position``.
    """

    model_config = ConfigDict(frozen=True)

    messages: list[FetchedMessage]
    position: InboxPosition
    has_more: bool = False


class ImapError(Exception):
    """The IMAP server answered something the sync cannot use."""


class ImapLoginFailed(ImapError):
    """The server refused the username/password: the mailbox needs re-authentication.

    Its message is the fixed "login refused"; the server's words are in the log."""


class ImapUnavailable(ImapError):
    """The server could not be reached or stopped answering: try again later.

    At connection its message is one of ``outbound.mail.hosts.Unreachable``."""


class ImapFolderMissing(ImapError):
    """The configured folder does not exist (or cannot be opened): a settings problem."""


class _HideLoginCommand(logging.Filter):
    """Drop aioimaplib's DEBUG record of the LOGIN command it sends.

    aioimaplib masks the password in that record only where it appears verbatim;
    a password holding a backslash or a double quote is escaped on the wire, so
    the mask misses it and the password would be logged.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith("Sending") and " LOGIN " in message)


_aioimaplib_log = logging.getLogger("aioimaplib.aioimaplib")
if not any(isinstance(existing, _HideLoginCommand) for existing in _aioimaplib_log.filters):
    _aioimaplib_log.addFilter(_HideLoginCommand())


async def fetch_new(
    account: ImapAccount, position: InboxPosition | None, limit: int = 100
) -> InboxBatch:
    """Messages that arrived in ``account.folder`` after ``position``, at most ``limit`` of them.

    * ``position`` None (a mailbox just connected): nothing is returned, only the
      current end of the folder (UIDNEXT - 1). A new mailbox must not have years
      of old mail processed as replies and bounces; only mail arriving from now
      on concerns sequences we send.
    * UIDVALIDITY changed (the folder was recreated or the server rebuilt its
      index): the stored UIDs mean nothing any more, so the messages that arrived
      in the last :data:`RESYNC_DAYS` days (``UID SEARCH SINCE``) are returned
      again. Some were probably processed already; the caller's de-duplication
      absorbs that, whereas skipping them could miss a reply.
    * Otherwise the UIDs above ``position.last_uid``, oldest first.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    async with _session(account) as client:
        uidvalidity, uidnext = await _examine(client, account)
        if position is None:
            start = InboxPosition(uidvalidity=uidvalidity, last_uid=max(uidnext - 1, 0))
            return InboxBatch(messages=[], position=start)
        if position.uidvalidity == uidvalidity:
            floor = position.last_uid
            # "N:*" always includes the highest UID, even when it is below N: filter below.
            found = await _uid_search(client, "UID", f"{floor + 1}:*")
        else:
            floor = 0
            since = datetime.now(UTC).date() - timedelta(days=RESYNC_DAYS)
            found = await _uid_search(client, "SINCE", _imap_date(since))
        pending = sorted(uid for uid in set(found) if uid > floor)
        page = pending[:limit]
        bodies = await _fetch_bodies(client, page) if page else {}
    messages = [FetchedMessage(uid=uid, raw=bodies[uid]) for uid in page if uid in bodies]
    if page:
        last_uid = page[-1]  # a UID expunged between SEARCH and FETCH is simply gone
    elif position.uidvalidity == uidvalidity:
        last_uid = position.last_uid
    else:
        last_uid = max(uidnext - 1, 0)  # nothing recent: start from the current end
    return InboxBatch(
        messages=messages,
        position=InboxPosition(uidvalidity=uidvalidity, last_uid=last_uid),
        has_more=len(pending) > len(page),
    )


async def check_imap_login(account: ImapAccount) -> None:
    """Connect, log in and open the folder read-only: will inbox sync work with these settings?

    Within seconds (``hosts.CHECK_SECONDS``). Raises ``hosts.HostRefused``,
    :class:`ImapLoginFailed`, :class:`ImapUnavailable` or :class:`ImapFolderMissing`.
    """
    try:
        async with asyncio.timeout(CHECK_SECONDS), _session(account, CHECK_STEP_SECONDS) as client:
            await _examine(client, account)
    except TimeoutError:
        log_failure("IMAP login check of", account.host, account.port, TimeoutError())
        raise ImapUnavailable(Unreachable.TIMED_OUT.value) from None


SENT_FOLDER_NAMES = ("Sent", "Sent Items", "Sent Messages", "Sent Mail", "INBOX.Sent")
"""Where the sent copy is looked for when the server marks no folder ``\\Sent`` (RFC 6154)."""


async def find_sent_copy(account: ImapAccount, message_id: str) -> bool:
    """Is a message with this Message-ID in the mailbox's Sent folder?

    Most providers file a copy of what their submission server accepted in the
    sender's Sent folder (Gmail and Microsoft 365 do, under the Message-ID we
    gave). When an SMTP dialogue broke after the message was handed over, that
    copy is the one proof that it was accepted. Only a found copy proves
    anything: a missing one may be late or not kept at all. The folder is the
    one the server marks ``\\Sent`` (SPECIAL-USE), else the first of
    :data:`SENT_FOLDER_NAMES` that exists; opened read-only.
    """
    async with _session(account) as client:
        listing = await client.list('""', '"*"')
        if listing.result != "OK":
            raise ImapError(f"IMAP LIST failed: {_text(listing.lines)}")
        folder = sent_folder(listing.lines)
        if folder is None:
            return False
        await _examine(client, account.model_copy(update={"folder": folder}))
        found = await _uid_search(client, "HEADER", "Message-ID", _quoted(message_id))
    return bool(found)


_LIST_LINE = re.compile(
    rb"^(?:\* )?(?:LIST )?\((?P<attributes>[^)]*)\) "
    rb'(?:NIL|"(?:[^"\\]|\\.)*") (?P<name>.+)$'
)


def sent_folder(list_lines: list[bytes | bytearray]) -> str | None:
    """The Sent folder among LIST answer lines (decoded name), or None if there is none."""
    folders: dict[str, set[str]] = {}
    for line in list_lines:
        found = _LIST_LINE.match(bytes(line).strip())
        if found is None:
            continue
        raw = found.group("name").decode("ascii", "replace")
        if raw.startswith("{"):
            continue  # a name sent as a literal: rare, and never a standard Sent folder
        name = raw[1:-1].replace('\\"', '"').replace("\\\\", "\\") if raw.startswith('"') else raw
        attributes = {
            a.lower() for a in found.group("attributes").decode("ascii", "replace").split()
        }
        if "\\noselect" not in attributes:  # a level of the hierarchy, not a folder
            folders[_from_utf7_folder(name)] = attributes
    for name, attributes in folders.items():
        if "\\sent" in attributes:
            return name
    by_lower = {name.lower(): name for name in folders}
    for candidate in SENT_FOLDER_NAMES:
        if candidate.lower() in by_lower:
            return by_lower[candidate.lower()]
    return None


class _PinnedImap(aioimaplib.IMAP4):
    """aioimaplib's client, connected to a checked address, verifying TLS for the name."""

    def __init__(self, destination: Destination, tls: bool, seconds: float) -> None:
        self._server_name = destination.name
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH) if tls else None
        super().__init__(
            host=destination.address,
            port=destination.port,
            timeout=seconds,
            ssl_context=context,
        )

    def create_client(  # type: ignore[no-untyped-def]
        self, host, port, loop, conn_lost_cb=None, ssl_context=None
    ) -> None:
        running = loop if loop is not None else asyncio.get_running_loop()
        self.protocol = aioimaplib.IMAP4ClientProtocol(running, conn_lost_cb)
        self._client_task = running.create_task(
            running.create_connection(
                lambda: self.protocol,
                host,
                port,
                ssl=ssl_context,
                server_hostname=self._server_name if ssl_context is not None else None,
            )
        )


@asynccontextmanager
async def _session(
    account: ImapAccount, step_seconds: float | None = None
) -> AsyncIterator[aioimaplib.IMAP4]:
    """A logged-in connection that is always logged out and closed, errors translated.

    Raises ``HostRefused`` for a host or port that may not be used, before connecting."""
    where = f"{account.host}:{account.port}"
    seconds = step_seconds or account.timeout_seconds
    try:
        destination = await account.hosts.destination(account.host, account.port)
    except (OSError, TimeoutError) as error:
        log_failure("IMAP resolving", account.host, account.port, error)
        raise ImapUnavailable(unreachable(error).value) from None
    client = _PinnedImap(destination, account.tls, seconds)
    try:
        try:
            await client.wait_hello_from_server()
            answer = await _log_in(client, account)
        except (OSError, TimeoutError, aioimaplib.AioImapException) as error:
            log_failure("IMAP connection to", account.host, account.port, error)
            raise ImapUnavailable(unreachable(error).value) from None
        except TokenRefused as refused:
            raise ImapLoginFailed(str(refused)) from None
        except TokenUnavailable as unavailable:
            raise ImapUnavailable(str(unavailable)) from None
        if answer.result != "OK":
            said = _scrub(_text(answer.lines), account.password)
            _log.warning("IMAP login of %s at %s refused: %s", account.username, where, said)
            raise ImapLoginFailed(Unreachable.LOGIN_REFUSED.value)
        try:
            yield client
        except (OSError, aioimaplib.AioImapException) as error:
            raise ImapUnavailable(f"IMAP server {where} failed: {_describe(error)}") from None
    finally:
        await _close(client)


async def _log_in(client: aioimaplib.IMAP4, account: ImapAccount) -> aioimaplib.Response:
    """LOGIN with the password, or AUTHENTICATE XOAUTH2 with an access token (one retry
    with a fresh token when the server refuses a cached one)."""
    if account.bearer is None:
        return await client.login(_quoted(account.username), account.password)
    return await imap_oauth_login(client, account.username, account.bearer)


async def _close(client: aioimaplib.IMAP4) -> None:
    """Log out politely when the connection still works, then drop it whatever happened."""
    protocol = client.protocol
    transport = protocol.transport
    if (
        transport is not None
        and not transport.is_closing()
        and client.get_state() in {aioimaplib.NONAUTH, aioimaplib.AUTH, aioimaplib.SELECTED}
    ):
        with suppress(OSError, aioimaplib.AioImapException):
            await asyncio.wait_for(protocol.logout(), _LOGOUT_SECONDS)
    if transport is not None:
        transport.close()
    connecting = getattr(client, "_client_task", None)
    if connecting is not None and not connecting.done():
        connecting.cancel()


async def _examine(client: aioimaplib.IMAP4, account: ImapAccount) -> tuple[int, int]:
    """Open the folder read-only; returns its (UIDVALIDITY, UIDNEXT)."""
    name = _quoted(_utf7_folder(account.folder))
    answer = await client.examine(name)
    if answer.result != "OK":
        raise ImapFolderMissing(
            f"IMAP folder {account.folder!r} cannot be opened: {_text(answer.lines)}"
        )
    # aioimaplib runs EXAMINE as a "simple" command and leaves its state at AUTH, so UID
    # commands would be refused (iroco-co/aioimaplib#101); EXAMINE does select the folder.
    client.protocol.state = aioimaplib.SELECTED
    uidvalidity = _code(answer.lines, b"UIDVALIDITY")
    uidnext = _code(answer.lines, b"UIDNEXT")
    if uidvalidity is None or uidnext is None:  # optional in IMAP4rev1's SELECT answer
        status = await client.status(name, "(UIDVALIDITY UIDNEXT)")
        uidvalidity = uidvalidity or _status_item(status.lines, b"UIDVALIDITY")
        uidnext = uidnext or _status_item(status.lines, b"UIDNEXT")
    if uidvalidity is None or uidnext is None:
        raise ImapError(f"IMAP folder {account.folder!r}: server gave no UIDVALIDITY/UIDNEXT")
    return uidvalidity, uidnext


async def _uid_search(client: aioimaplib.IMAP4, *criteria: str) -> list[int]:
    answer = await client.uid_search(*criteria, charset=None)
    if answer.result != "OK":
        raise ImapError(f"IMAP UID SEARCH {' '.join(criteria)} failed: {_text(answer.lines)}")
    uids: list[int] = []
    for line in answer.lines[:-1]:  # the last line is the tagged completion text
        uids.extend(int(token) for token in bytes(line).split() if token.isdigit())
    return uids


async def _fetch_bodies(client: aioimaplib.IMAP4, uids: list[int]) -> dict[int, bytes]:
    answer = await client.uid("fetch", _uid_set(uids), "(UID BODY.PEEK[])")
    if answer.result != "OK":
        raise ImapError(f"IMAP UID FETCH failed: {_text(answer.lines)}")
    return _parse_fetch(answer.lines)


_FETCH_START = re.compile(rb"^\d+ FETCH \(")
_UID_ITEM = re.compile(rb"\bUID (\d+)")
_BODY_LITERAL = re.compile(rb"BODY\[\] \{(\d+)\}$")


def _parse_fetch(lines: list[bytes | bytearray]) -> dict[int, bytes]:
    """UID → body from aioimaplib's FETCH answer.

    aioimaplib gives text lines as ``bytes`` and each literal as one ``bytearray``:
    ``b'3 FETCH (UID 7 BODY[] {1234}'``, ``bytearray(<1234 bytes>)``, ``b')'``. Untagged
    FETCH answers without a body (flag changes from another session) are ignored.
    """
    bodies: dict[int, bytes] = {}
    uid: int | None = None
    body: bytes | None = None
    literal_is_body = False

    def keep() -> None:
        if uid is not None and body is not None:
            bodies[uid] = body

    for item in lines:
        if isinstance(item, bytearray):
            if literal_is_body:
                body = bytes(item)
            literal_is_body = False
            continue
        if _FETCH_START.match(item):
            keep()
            uid, body = None, None
        found_uid = _UID_ITEM.search(item)
        if found_uid:
            uid = int(found_uid.group(1))
        literal_is_body = _BODY_LITERAL.search(item) is not None
    keep()
    return bodies


def _uid_set(uids: list[int]) -> str:
    """Sorted UIDs as a compact IMAP set: [3, 4, 5, 9] → "3:5,9"."""
    parts: list[str] = []
    start = previous = uids[0]
    for uid in [*uids[1:], None]:
        if uid is not None and uid == previous + 1:
            previous = uid
            continue
        parts.append(str(start) if start == previous else f"{start}:{previous}")
        if uid is not None:
            start = previous = uid
    return ",".join(parts)


def _code(lines: list[bytes], name: bytes) -> int | None:
    """A response code such as ``OK [UIDNEXT 12] Predicted next UID`` → 12."""
    pattern = re.compile(rb"\[" + name + rb" (\d+)\]")
    for line in lines:
        found = pattern.search(bytes(line))
        if found:
            return int(found.group(1))
    return None


def _status_item(lines: list[bytes], name: bytes) -> int | None:
    pattern = re.compile(rb"\b" + name + rb" (\d+)")
    for line in lines:
        found = pattern.search(bytes(line))
        if found:
            return int(found.group(1))
    return None


def _imap_date(day: date) -> str:
    """IMAP's date (RFC 3501 ``date``), e.g. 7-Nov-2025; month names never localised."""
    return f"{day.day}-{_MONTHS[day.month - 1]}-{day.year}"


def _quoted(text: str) -> str:
    """An IMAP quoted string (folder names and usernames may contain spaces or quotes)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _utf7_folder(name: str) -> str:
    """A folder name in IMAP's modified UTF-7 (RFC 3501 5.1.3): "Entrée" → "Entr&AOk-e"."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            encoded = "".join(pending).encode("utf-16-be")
            text = base64.b64encode(encoded).decode().rstrip("=").replace("/", ",")
            out.append(f"&{text}-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


def _from_utf7_folder(name: str) -> str:
    """A folder name from IMAP's modified UTF-7 back to text: "Entr&AOk-e" → "Entrée"."""

    def decode(shifted: re.Match[str]) -> str:
        text = shifted.group(1)
        if not text:
            return "&"
        padded = text.replace(",", "/") + "=" * (-len(text) % 4)
        return base64.b64decode(padded).decode("utf-16-be")

    return re.sub(r"&([A-Za-z0-9+,]*)-", decode, name)


def _text(lines: list[bytes]) -> str:
    return " ".join(bytes(line).decode(errors="replace") for line in lines).strip()


def _scrub(text: str, secret: str) -> str:
    """Server text with the password masked, should a server ever echo it back."""
    return text.replace(secret, "***") if secret else text


def _describe(error: BaseException) -> str:
    return str(error) or type(error).__name__
