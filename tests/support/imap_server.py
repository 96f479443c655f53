"""A throwaway IMAP server for the inbox-sync tests (Debian's ``dovecot-imapd`` package).

Dovecot runs in the foreground as a child of the test run, from a configuration
file generated in a temporary folder (nothing under /etc is read or written), on
a free loopback port, with plain IMAP (no TLS on loopback), one passwd-file user
with a random password and its Maildir in that folder, which is removed
afterwards. Tests add mail with IMAP APPEND, exactly as a delivery would
arrive from the client's point of view.

Use it by importing the fixtures into a conftest (the redundant alias keeps ruff's
F401 quiet; in a test module assign them instead, ``imap_server = module.imap_server``,
as a parameter named like an import is F811)::

    from tests.support.imap_server import imap_server as imap_server
    from tests.support.imap_server import refusing_imap_server as refusing_imap_server

``imap_server`` is one dovecot for the whole session; ``refusing_imap_server``
is a fresh one for a test that makes logins fail.

OAuth mailboxes (Gmail, Outlook) log in with ``AUTHENTICATE XOAUTH2`` or ``OAUTHBEARER``
and a bearer token instead of a password. ``running_dovecot(binary, oauth=DovecotOAuth(...))``
adds that: dovecot's own oauth2 support checks each token at the provider's RFC 7662
introspection endpoint (:mod:`tests.support.oauth_provider`), so a token the provider
revoked or let expire is refused at once. Each OAuth account gets its own Maildir; the
tests reach it through a dovecot master user (``append(raw, user=email)`` and the other
helpers take ``user=``), since the account itself has no password. The fixture
``oauth_imap_server`` starts one for a test, for the accounts in ``OAUTH_ACCOUNTS``, added
to the test's ``oauth_provider`` (import that fixture too, from
:mod:`tests.support.oauth_provider`).

Dovecot quirks this has to live with:

* its login processes refuse to run as root, and it refuses uid 0 for mail
  access ("userdb returned 0 as uid"), so when the tests run as root the login
  processes and the mail files belong to ``nobody`` (the master and the auth
  process stay root, which is what reads the password file);
* 2.4 rewrote the configuration syntax (Debian 13 ships 2.4, Debian 12 ships
  2.3), so the file is generated for the version found.
"""

from __future__ import annotations

import contextlib
import grp
import imaplib
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import pytest

if TYPE_CHECKING:  # the provider's Flask and Authlib load only for the tests that use it
    from tests.support.oauth_provider import OAuthTestProvider

USER = "outbound-test"
MASTER_USER = "outbound-test-master"
MASTER_SEPARATOR = "*"  # dovecot logs "ada@mail.example.com*outbound-test-master" in as Ada
OAUTH_ACCOUNTS = ("ada@mail.example.com", "grace@mail.example.com")
REQUIRE_ENV = "OUTBOUND_REQUIRE_IMAP"


def find_dovecot() -> Path | None:
    """The dovecot master binary; None if not installed.

    /usr/sbin is often missing from a non-root PATH, hence the fallback.
    """
    found = shutil.which("dovecot") or shutil.which("dovecot", path="/usr/sbin:/usr/local/sbin")
    return Path(found) if found else None


def dovecot_version(binary: Path) -> tuple[int, int]:
    """(major, minor) of the installed dovecot, which decides the configuration syntax."""
    out = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, check=False
    ).stdout
    match = re.match(r"(\d+)\.(\d+)", out.strip())
    if match is None:
        raise RuntimeError(f"cannot tell dovecot's version from {out!r}")
    return int(match.group(1)), int(match.group(2))


@dataclass(frozen=True)
class DovecotOAuth:
    """Turns on XOAUTH2 and OAUTHBEARER, with tokens checked at ``introspect_url`` (RFC 7662)
    under the client credentials given; ``accounts`` are the mailboxes that log in that way."""

    introspect_url: str
    client_id: str
    client_secret: str = field(repr=False)
    accounts: tuple[str, ...] | list[str] = ()

    @classmethod
    def for_provider(cls, provider: OAuthTestProvider, accounts: Iterable[str]) -> DovecotOAuth:
        """Check tokens at ``provider`` as its resource client (the accounts are added there)."""
        for account in accounts:
            provider.add_account(account)
        return cls(
            provider.introspect_url,
            provider.resource_client_id,
            provider.resource_client_secret,
            tuple(accounts),
        )


@dataclass
class ImapTestServer:
    """Connection details of the running server plus helpers that act as the outside world.

    The helpers act on the password user ``user`` unless given ``user=`` an OAuth account
    (see ``oauth_accounts``), which they reach through the master user.
    """

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    oauth_accounts: tuple[str, ...] = ()
    master_password: str = field(default="", repr=False)

    @contextlib.contextmanager
    def connect(self, user: str | None = None) -> Iterator[imaplib.IMAP4]:
        """A logged-in stdlib client (blocking, but the server is a local process: milliseconds).

        ``user``: an OAuth account to act as (logged in through the master user).
        """
        client = imaplib.IMAP4(self.host, self.port, timeout=10)
        try:
            client.login(*self._credentials(user))
            yield client
        finally:
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                client.logout()

    def _credentials(self, user: str | None) -> tuple[str, str]:
        if user is None or user == self.user:
            return self.user, self.password
        if user.lower() not in (account.lower() for account in self.oauth_accounts):
            raise ValueError(f"{user!r} is not an account of this server")
        return f"{user}{MASTER_SEPARATOR}{MASTER_USER}", self.master_password

    def settings(self) -> dict[str, object]:
        """The body of ``PUT /mailboxes/{id}/imap`` that points a mailbox at this server."""
        return {
            "host": self.host,
            "port": self.port,
            "tls": False,
            "username": self.user,
            "password": self.password,
        }

    def append(
        self,
        raw: bytes,
        folder: str = "INBOX",
        *,
        flags: str = "",
        internal_date: datetime | None = None,
        user: str | None = None,
    ) -> int:
        """Deliver ``raw`` into ``folder`` (created if missing); returns the message's UID.

        ``internal_date`` is the arrival date IMAP SEARCH SINCE looks at (default now);
        ``flags`` e.g. ``"\\Seen"`` for a message someone already read in their mail client;
        ``user`` an OAuth account whose mailbox receives it (default: the password user's).
        """
        with self.connect(user) as client:
            if folder.upper() != "INBOX":
                client.create(_quote(folder))  # NO when it exists already: fine
            when = imaplib.Time2Internaldate(internal_date) if internal_date else None
            status, data = client.append(_quote(folder), f"({flags})" if flags else None, when, raw)
            if status != "OK":
                raise RuntimeError(f"APPEND to {folder} failed: {data!r}")
            match = re.search(rb"\[APPENDUID \d+ (\d+)\]", data[0] or b"")
            if match is None:
                raise RuntimeError(f"APPEND to {folder} gave no APPENDUID: {data!r}")
            return int(match.group(1))

    def reset(self, user: str | None = None) -> None:
        """Empty the mailbox (of ``user``, an OAuth account, if given): INBOX expunged, every
        other folder deleted.

        INBOX keeps its UIDVALIDITY and UIDs keep growing, as on a real server.
        """
        with self.connect(user) as client:
            _, listing = client.list()
            for line in listing:
                name = _listed_name(line)
                if name is not None and name.upper() != "INBOX":
                    client.delete(_quote(name))
            _, exists = client.select("INBOX")
            if int(exists[0] or 0):  # "1:*" is an error in an empty folder
                client.store("1:*", "+FLAGS.SILENT", r"(\Deleted)")
                client.expunge()
            client.close()

    def recreate_folder(self, folder: str, user: str | None = None) -> None:
        """Delete and create ``folder`` again: what makes a server hand out a new UIDVALIDITY.

        (Dovecot will not delete INBOX, so UIDVALIDITY tests use another folder.)
        """
        with self.connect(user) as client:
            client.delete(_quote(folder))
            status, data = client.create(_quote(folder))
            if status != "OK":
                raise RuntimeError(f"CREATE {folder} failed: {data!r}")

    def uidvalidity(self, folder: str = "INBOX", user: str | None = None) -> int:
        """The folder's current UIDVALIDITY."""
        with self.connect(user) as client:
            _, data = client.status(_quote(folder), "(UIDVALIDITY)")
            match = re.search(rb"UIDVALIDITY (\d+)", data[0] or b"")
            if match is None:
                raise RuntimeError(f"STATUS {folder} gave no UIDVALIDITY: {data!r}")
            return int(match.group(1))

    def flags(self, uid: int, folder: str = "INBOX", user: str | None = None) -> set[str]:
        """The flags of message ``uid``, read without changing them (EXAMINE)."""
        with self.connect(user) as client:
            client.select(_quote(folder), readonly=True)
            _, data = client.uid("FETCH", str(uid), "(FLAGS)")
            first = data[0][0] if isinstance(data[0], tuple) else data[0]
            match = re.search(rb"FLAGS \(([^)]*)\)", first or b"")
            if match is None:
                raise RuntimeError(f"no message with UID {uid} in {folder}: {data!r}")
            return set(match.group(1).decode().split())


@contextlib.contextmanager
def running_dovecot(binary: Path, oauth: DovecotOAuth | None = None) -> Iterator[ImapTestServer]:
    """Start a dovecot with one user and an empty Maildir; stopped and removed afterwards.

    With ``oauth``, also its accounts (each with an empty Maildir), logging in with
    XOAUTH2 / OAUTHBEARER, and the master user the helpers reach them through.
    """
    folder = Path(tempfile.mkdtemp(prefix="outbound-imap-"))
    password = secrets.token_urlsafe(16)
    master_password = secrets.token_urlsafe(16) if oauth else ""
    port = _free_port()
    process: subprocess.Popen[bytes] | None = None
    try:
        config = _write_config(binary, folder, port, password, oauth, master_password)
        with (folder / "master.out").open("wb") as output:
            process = subprocess.Popen(
                [str(binary), "-F", "-c", str(config)],
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        _wait_ready(process, port, folder)
        accounts = tuple(oauth.accounts) if oauth else ()
        yield ImapTestServer("127.0.0.1", port, USER, password, accounts, master_password)
    finally:
        if process is not None and process.poll() is None:
            process.terminate()  # the master takes its children down with it
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def imap_server() -> Iterator[ImapTestServer]:
    """One dovecot per test session (skipped where none is installed, but not in CI).

    Tests share it: call :meth:`ImapTestServer.reset` or use a folder of their own.
    Never log in with a wrong password here (see :func:`refusing_imap_server`).
    """
    with running_dovecot(_dovecot_or_skip()) as server:
        yield server


@pytest.fixture
def refusing_imap_server() -> Iterator[ImapTestServer]:
    """A dovecot of the test's own, for tests that make logins fail.

    After a refused login dovecot delays *every* login from that IP (127.0.0.1)
    by 2 s, then 4, 8 and 15 s per further failure, for about half a minute
    (anvil's auth penalty, not configurable in 2.3): on the shared server that
    would slow down the tests that follow.
    """
    with running_dovecot(_dovecot_or_skip()) as server:
        yield server


@pytest.fixture
def oauth_imap_server(oauth_provider: OAuthTestProvider) -> Iterator[ImapTestServer]:
    """A dovecot of the test's own that takes OAuth logins, checked at ``oauth_provider``.

    Its accounts are ``OAUTH_ACCOUNTS`` (``server.oauth_accounts``), added to the provider
    already: get a token for one with ``login_hint=<account>``, log in with
    ``AUTHENTICATE XOAUTH2`` / ``OAUTHBEARER``; deliver into its INBOX with
    ``server.append(raw, user=<account>)``. The password user works as on ``imap_server``.
    A refused login slows every later login of the test by 2 s or more (see
    :func:`refusing_imap_server`), the helpers' too: refuse last.
    """
    oauth = DovecotOAuth.for_provider(oauth_provider, OAUTH_ACCOUNTS)
    with running_dovecot(_dovecot_or_skip(), oauth=oauth) as server:
        yield server


def _dovecot_or_skip() -> Path:
    binary = find_dovecot()
    if binary is None:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but dovecot is not installed")
        pytest.skip("IMAP server not installed (Debian package: dovecot-imapd)")
    return binary


@dataclass(frozen=True)
class _Files:
    """What the configuration points at."""

    folder: Path
    users: Path  # passdb and userdb of the password user
    oauth_users: Path  # userdb of the OAuth accounts (no passwords)
    masters: Path  # the master user's passdb


def _write_config(
    binary: Path,
    folder: Path,
    port: int,
    password: str,
    oauth: DovecotOAuth | None = None,
    master_password: str = "",
) -> Path:
    """Write users files, Maildirs and dovecot.conf under ``folder``; returns the config's path.

    Every user's home is its Maildir (``USER``'s is ``folder/Maildir``).
    """
    base, state = folder / "run", folder / "state"
    for made in (base, state):
        made.mkdir()
    me = pwd.getpwuid(os.geteuid())
    if me.pw_uid == 0:
        # Login processes must not be root and mail access must not be uid 0.
        unprivileged = pwd.getpwnam("nobody")
        login_user, mail_uid, mail_gid = (
            unprivileged.pw_name,
            unprivileged.pw_uid,
            unprivileged.pw_gid,
        )
        folder.chmod(0o711)  # let nobody through to its Maildir; the rest stays root's
    else:
        login_user, mail_uid, mail_gid = me.pw_name, me.pw_uid, me.pw_gid
    accounts = tuple(oauth.accounts) if oauth else ()
    homes = {USER: folder / "Maildir"} | {a: folder / "oauth" / a.lower() for a in accounts}
    for home in homes.values():
        home.mkdir(parents=True)
        os.chown(home, mail_uid, mail_gid)
    files = _Files(folder, folder / "users", folder / "oauth-users", folder / "masters")
    ids = f"{mail_uid}:{mail_gid}"
    _secret_file(files.users, f"{USER}:{{PLAIN}}{password}:{ids}::{homes[USER]}::\n")
    _secret_file(files.oauth_users, "".join(f"{a}::{ids}::{homes[a]}::\n" for a in accounts))
    _secret_file(files.masters, f"{MASTER_USER}:{{PLAIN}}{master_password}::::::\n")

    common = {
        "protocols": "imap",
        "listen": "127.0.0.1",
        "base_dir": str(base),
        "state_dir": str(state),
        "log_path": str(folder / "dovecot.log"),
        "ssl": "no",
        "auth_mechanisms": "plain login xoauth2 oauthbearer" if oauth else "plain login",
        "auth_failure_delay": "0",  # a refused login is answered in 0.5 s instead of 2
        "default_internal_user": me.pw_name,
        "default_internal_group": grp.getgrgid(me.pw_gid).gr_name,
        "default_login_user": login_user,
        "first_valid_uid": "1",
        "mail_uid": str(mail_uid),
        "mail_gid": str(mail_gid),
        "mail_fsync": "never",
        "mail_max_userip_connections": "100",
    }
    if oauth:
        common["auth_master_user_separator"] = MASTER_SEPARATOR
    services = f"""
namespace inbox {{
  inbox = yes
  separator = /
  mailbox "Sent Items" {{
    special_use = \\Sent
  }}
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""
    if dovecot_version(binary) >= (2, 4):
        head, body = _config_24(common, files, oauth)
    else:
        head, body = _config_23(common, files, oauth)
    config = folder / "dovecot.conf"
    config.write_text(head + body + services)
    return config


def _config_23(
    common: dict[str, str], files: _Files, oauth: DovecotOAuth | None
) -> tuple[str, str]:
    """Settings and databases in dovecot 2.3's syntax (Debian 12).

    OAuth is a passdb here: ``driver = oauth2`` with its settings in a separate file.
    """
    settings = {
        **common,
        "disable_plaintext_auth": "no",
        "mail_location": "maildir:~",
    }
    databases = f"""
passdb {{
  driver = passwd-file
  args = {files.users}
  mechanisms = plain login
}}
userdb {{
  driver = passwd-file
  args = {files.users}
}}
"""
    if oauth:
        oauth_file = files.folder / "dovecot-oauth2.conf.ext"
        _secret_file(oauth_file, "".join(f"{k} = {v}\n" for k, v in _oauth2(oauth).items()))
        databases += f"""
passdb {{
  driver = passwd-file
  args = {files.masters}
  master = yes
}}
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {oauth_file}
}}
userdb {{
  driver = passwd-file
  args = {files.oauth_users}
}}
"""
    return "", _settings(settings) + databases


def _config_24(
    common: dict[str, str], files: _Files, oauth: DovecotOAuth | None
) -> tuple[str, str]:
    """Settings and databases in dovecot 2.4's syntax (Debian 13).

    OAuth is no passdb any more: the mechanisms check tokens with the ``oauth2 { }``
    settings and then look the user up in the userdbs.
    """
    head = "dovecot_config_version = 2.4.0\ndovecot_storage_version = 2.4.0\n"
    settings = {
        **common,
        "auth_allow_cleartext": "yes",
        "mail_driver": "maildir",
        # Per-user Maildirs only where there are several users: 2.4 is not run here, so the
        # password user's configuration stays as it was verified.
        "mail_path": "%{home}" if oauth else str(files.folder / "Maildir"),
    }
    only_passwords = "  mechanisms_filter = plain login\n" if oauth else ""
    databases = f"""
passdb passwd-file {{
  passwd_file_path = {files.users}
{only_passwords}}}
userdb passwd-file {{
  passwd_file_path = {files.users}
}}
"""
    if oauth:
        oauth2 = "".join(f"  {k} = {v}\n" for k, v in _oauth2(oauth).items())
        databases += f"""
oauth2 {{
{oauth2}}}
passdb masters {{
  driver = passwd-file
  passwd_file_path = {files.masters}
  master = yes
}}
userdb oauth-users {{
  driver = passwd-file
  passwd_file_path = {files.oauth_users}
}}
"""
    return head, _settings(settings) + databases


def _oauth2(oauth: DovecotOAuth) -> dict[str, str]:
    """The oauth2 settings both versions share: RFC 7662 introspection by POST, the client's
    credentials in the URL (sent as HTTP Basic), the account named by the ``email`` field."""
    scheme, _, rest = oauth.introspect_url.partition("://")
    credentials = f"{quote(oauth.client_id, safe='')}:{quote(oauth.client_secret, safe='')}"
    return {
        "introspection_mode": "post",
        "introspection_url": f"{scheme}://{credentials}@{rest}",
        "force_introspection": "yes",
        "username_attribute": "email",
        "active_attribute": "active",
        "active_value": "true",
    }


def _settings(settings: dict[str, str]) -> str:
    return "".join(f"{key} = {value}\n" for key, value in settings.items())


def _secret_file(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o600)


def _wait_ready(process: subprocess.Popen[bytes], port: int, folder: Path) -> None:
    """Block until the server greets on its port; fail with dovecot's own logs otherwise."""
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"dovecot exited with {process.returncode}:\n{_logs(folder)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as probe:
                if probe.recv(64).startswith(b"* OK"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"dovecot did not start:\n{_logs(folder)}")
        time.sleep(0.1)


def _logs(folder: Path) -> str:
    parts = []
    for name in ("master.out", "dovecot.log"):
        path = folder / name
        if path.exists():
            parts.append(f"--- {name}\n{path.read_text(errors='replace')}")
    return "\n".join(parts)


def _quote(name: str) -> str:
    """An IMAP quoted string (folder names may hold spaces)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _listed_name(line: bytes | tuple[bytes, bytes] | None) -> str | None:
    """The folder name out of one LIST answer line such as ``(\\HasNoChildren) "/" "Replies"``."""
    if not isinstance(line, bytes):
        return None
    match = re.match(rb'\([^)]*\) (?:"[^"]*"|NIL) (.+)$', line)
    if match is None:
        return None
    name = match.group(1).decode()
    if name.startswith('"') and name.endswith('"'):
        name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return name


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
