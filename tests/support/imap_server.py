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
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest

USER = "outbound-test"
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


@dataclass
class ImapTestServer:
    """Connection details of the running server plus helpers that act as the outside world."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)

    @contextlib.contextmanager
    def connect(self) -> Iterator[imaplib.IMAP4]:
        """A logged-in stdlib client (blocking, but the server is a local process: milliseconds)."""
        client = imaplib.IMAP4(self.host, self.port, timeout=10)
        try:
            client.login(self.user, self.password)
            yield client
        finally:
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                client.logout()

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
    ) -> int:
        """Deliver ``raw`` into ``folder`` (created if missing); returns the message's UID.

        ``internal_date`` is the arrival date IMAP SEARCH SINCE looks at (default now);
        ``flags`` e.g. ``"\\Seen"`` for a message someone already read in their mail client.
        """
        with self.connect() as client:
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

    def reset(self) -> None:
        """Empty the mailbox: INBOX expunged, every other folder deleted.

        INBOX keeps its UIDVALIDITY and UIDs keep growing, as on a real server.
        """
        with self.connect() as client:
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

    def recreate_folder(self, folder: str) -> None:
        """Delete and create ``folder`` again: what makes a server hand out a new UIDVALIDITY.

        (Dovecot will not delete INBOX, so UIDVALIDITY tests use another folder.)
        """
        with self.connect() as client:
            client.delete(_quote(folder))
            status, data = client.create(_quote(folder))
            if status != "OK":
                raise RuntimeError(f"CREATE {folder} failed: {data!r}")

    def uidvalidity(self, folder: str = "INBOX") -> int:
        """The folder's current UIDVALIDITY."""
        with self.connect() as client:
            _, data = client.status(_quote(folder), "(UIDVALIDITY)")
            match = re.search(rb"UIDVALIDITY (\d+)", data[0] or b"")
            if match is None:
                raise RuntimeError(f"STATUS {folder} gave no UIDVALIDITY: {data!r}")
            return int(match.group(1))

    def flags(self, uid: int, folder: str = "INBOX") -> set[str]:
        """The flags of message ``uid``, read without changing them (EXAMINE)."""
        with self.connect() as client:
            client.select(_quote(folder), readonly=True)
            _, data = client.uid("FETCH", str(uid), "(FLAGS)")
            first = data[0][0] if isinstance(data[0], tuple) else data[0]
            match = re.search(rb"FLAGS \(([^)]*)\)", first or b"")
            if match is None:
                raise RuntimeError(f"no message with UID {uid} in {folder}: {data!r}")
            return set(match.group(1).decode().split())


@contextlib.contextmanager
def running_dovecot(binary: Path) -> Iterator[ImapTestServer]:
    """Start a dovecot with one user and an empty Maildir; stopped and removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="outbound-imap-"))
    password = secrets.token_urlsafe(16)
    port = _free_port()
    process: subprocess.Popen[bytes] | None = None
    try:
        config = _write_config(binary, folder, port, password)
        with (folder / "master.out").open("wb") as output:
            process = subprocess.Popen(
                [str(binary), "-F", "-c", str(config)],
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        _wait_ready(process, port, folder)
        yield ImapTestServer("127.0.0.1", port, USER, password)
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


def _dovecot_or_skip() -> Path:
    binary = find_dovecot()
    if binary is None:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but dovecot is not installed")
        pytest.skip("IMAP server not installed (Debian package: dovecot-imapd)")
    return binary


def _write_config(binary: Path, folder: Path, port: int, password: str) -> Path:
    """Write users file and dovecot.conf under ``folder``; returns the configuration's path."""
    base, state, mail = folder / "run", folder / "state", folder / "Maildir"
    for made in (base, state, mail):
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
        os.chown(mail, mail_uid, mail_gid)
    else:
        login_user, mail_uid, mail_gid = me.pw_name, me.pw_uid, me.pw_gid
    internal_user = me.pw_name
    internal_group = grp.getgrgid(me.pw_gid).gr_name
    users = folder / "users"
    users.write_text(f"{USER}:{{PLAIN}}{password}:{mail_uid}:{mail_gid}::{mail}::\n")
    users.chmod(0o600)

    common = {
        "protocols": "imap",
        "listen": "127.0.0.1",
        "base_dir": str(base),
        "state_dir": str(state),
        "log_path": str(folder / "dovecot.log"),
        "ssl": "no",
        "auth_mechanisms": "plain login",
        "auth_failure_delay": "0",  # a refused login is answered in 0.5 s instead of 2
        "default_internal_user": internal_user,
        "default_internal_group": internal_group,
        "default_login_user": login_user,
        "first_valid_uid": "1",
        "mail_uid": str(mail_uid),
        "mail_gid": str(mail_gid),
        "mail_fsync": "never",
        "mail_max_userip_connections": "100",
    }
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
        head = "dovecot_config_version = 2.4.0\ndovecot_storage_version = 2.4.0\n"
        settings = {
            **common,
            "auth_allow_cleartext": "yes",
            "mail_driver": "maildir",
            "mail_path": str(mail),
        }
        databases = f"""
passdb passwd-file {{
  passwd_file_path = {users}
}}
userdb passwd-file {{
  passwd_file_path = {users}
}}
"""
    else:
        head = ""
        settings = {
            **common,
            "disable_plaintext_auth": "no",
            "mail_location": f"maildir:{mail}",
        }
        databases = f"""
passdb {{
  driver = passwd-file
  args = {users}
}}
userdb {{
  driver = passwd-file
  args = {users}
}}
"""
    config = folder / "dovecot.conf"
    body = "".join(f"{key} = {value}\n" for key, value in settings.items())
    config.write_text(head + body + databases + services)
    return config


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
