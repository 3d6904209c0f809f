"""The ``local`` transport: aliases, then a user's Maildir, as Postfix's local(8) -- restricted.

SECURITY: reads the alias tables and the password database, and writes Maildir files under
``mail_spool_directory`` or a user's home directory (see :mod:`mailrelay.delivery.maildir`);
it runs no commands and writes no other files.  Forwarded mail goes back to qmgr through the
``forward`` callable: this module never writes the queue.

Theory of operation, per recipient (``user+ext@domain``):

1. Loop control: a message that already has ``Delivered-To: <recipient>`` in its header
   (case-insensitive) bounces with ``mail forwarding loop for <recipient>`` (5.4.6).
2. ``alias_maps`` is searched for the local part folded to lower case (``user+ext``), then
   without its ``recipient_delimiter`` extension (``user``).  A table that cannot answer
   defers (``alias database unavailable``, 4.3.0).  An alias to addresses becomes *one* new
   message to all of them (``forwarded as <queue ID>``), with ``Delivered-To: <recipient>``
   prepended; bare names get ``@$myorigin``.  Those addresses' own aliases are expanded in
   their own delivery later, so an alias loop ends at step 1.  An ``owner-<alias>`` alias
   (``owner_request_special``) makes ``owner-<alias>@$myorigin`` the new message's sender,
   and the recipients lose the original recipient (as Postfix).  An alias that names itself
   (``root: root, admin@example.com``) delivers that entry to the user's mailbox, as
   Postfix does (it recognises the name bare or with the recipient's domain or $myorigin).
3. Otherwise the user (the local part without extension) must exist in the password
   database, else ``unknown user: "user"`` (5.1.1).  The message goes to the Maildir
   ``$home_mailbox`` under the user's home when that ends in ``/``, else
   ``$mail_spool_directory/<user>/`` when that ends in ``/``; the file gets ``Return-Path:``,
   ``X-Original-To:`` (``enable_original_recipient``) and ``Delivered-To:`` in front and
   LF line ends (``delivered to maildir``).

Restrictions (mailrelay is a relay, not a mail store): alias entries ``|command``,
``/file/name`` and ``:include:/file`` are refused -- the recipient bounces with
``delivery to commands is not supported by mailrelay`` (files, :include: likewise, 5.3.0),
where Postfix would run or write them.  ``.forward`` files, ``mailbox_command``,
``mailbox_transport``, ``fallback_transport`` and ``luser_relay`` are not supported.  mbox
delivery (``mail_spool_directory`` or ``home_mailbox`` without a trailing ``/``) defers with
a configuration error.  Postfix delivers alias targets that are local again within the same
delivery (``to=<root@...>, orig_to=<alias@...>``); mailrelay always forwards them as a new
message.  ``prepend_delivered_header`` and ``owner_request_special`` are fixed at Postfix's
defaults (mailrelay's parameter table does not have them yet).
"""

from __future__ import annotations

import asyncio
import os
import pwd
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from mailrelay.cleanup import tok822
from mailrelay.config.model import Config
from mailrelay.delivery import maildir
from mailrelay.maps.base import Map, MapError, MapLookupError, fold
from mailrelay.maps.lookup import Maps, quote_localpart, split_localpart
from mailrelay.maps.registry import MapCache, map_list, split_spec
from mailrelay.qmgr.request import DeliveryRecipient, DeliveryRequest, RecipientResult, Status

Log = Callable[[str], None]
RELAY = "local"
UNAVAILABLE = "alias database unavailable"
#: Table types a Linux host without NIS simply lacks (Postfix's default alias_maps has one).
_SKIPPED_TYPES = frozenset({"nis"})


@dataclass(frozen=True, slots=True)
class Forward:
    """A new message for qmgr to queue (local never writes the queue)."""

    sender: str
    recipients: tuple[str, ...]
    #: CRLF, with the header local prepends (``Delivered-To: ...``).
    content: bytes
    original_queue_id: str
    #: The alias address the recipients come from (their ``orig_to=`` and DSN ORCPT), or ""
    #: when an ``owner-`` alias took over and the recipients are their own originals.
    original_recipient: str = ""


ForwardFunction = Callable[[Forward], Awaitable[str]]


class UserEntry(Protocol):
    @property
    def pw_name(self) -> str: ...
    @property
    def pw_uid(self) -> int: ...
    @property
    def pw_gid(self) -> int: ...
    @property
    def pw_dir(self) -> str: ...


#: getpwnam(): KeyError when there is no such user.
UserLookup = Callable[[str], UserEntry]


@dataclass(frozen=True, slots=True)
class LocalSettings:
    alias_maps: str
    recipient_delimiter: str
    mail_spool_directory: str
    home_mailbox: str
    mailbox_size_limit: int
    myorigin: str
    myhostname: str
    enable_original_recipient: bool

    @classmethod
    def from_config(cls, config: Config) -> LocalSettings:
        return cls(
            alias_maps=config.get_str("alias_maps"),
            recipient_delimiter=config.get_str("recipient_delimiter"),
            mail_spool_directory=config.get_str("mail_spool_directory"),
            home_mailbox=config.get_str("home_mailbox"),
            mailbox_size_limit=config.get_int("mailbox_size_limit"),
            myorigin=config.get_str("myorigin"),
            myhostname=config.get_str("myhostname"),
            enable_original_recipient=config.get_bool("enable_original_recipient"),
        )


class Refused(Exception):
    """An alias entry mailrelay will not deliver to (a command, a file, an include list)."""


def _split_items(value: str) -> list[str]:
    """An alias value's comma-separated entries (commas inside double quotes stay)."""
    items: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for ch in value:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            items.append("".join(current))
            current = []
            continue
        current.append(ch)
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]


def alias_targets(value: str) -> list[str]:
    """The addresses of an alias value; Refused for ``|cmd``, ``/file`` and ``:include:``."""
    addresses: list[str] = []
    for item in _split_items(value):
        bare = item[1:-1] if len(item) > 1 and item[0] == item[-1] == '"' else item
        if bare.startswith("|"):
            raise Refused("delivery to commands is not supported by mailrelay")
        if bare.startswith("/"):
            raise Refused("delivery to files is not supported by mailrelay")
        if bare.lower().startswith(":include:"):
            raise Refused("delivery to :include: files is not supported by mailrelay")
        addresses.extend(tok822.addresses(item))
    return addresses


@dataclass(frozen=True, slots=True)
class AliasMatch:
    """What alias_maps says of one local recipient."""

    #: The key that matched (``user+ext`` or ``user``), or the folded local part.
    name: str
    #: The local part without its extension: whose mailbox, when no alias matches.
    user: str
    #: The alias's value; None: no alias, the user's mailbox.
    value: str | None
    #: An ``owner-<name>`` alias exists (owner_request_special).
    owned: bool


def find_alias(aliases: Maps, address: str, delimiter: str) -> AliasMatch:
    """local(8)'s alias search: ``user+ext``, then ``user`` (MapLookupError: defer)."""
    local = fold(address.rpartition("@")[0] or address)
    split = split_localpart(local, delimiter)
    user = split[0] if split else local
    name, found = local, aliases.find(local)
    if found is None and split:
        name, found = user, aliases.find(user)
    owned = found is not None and aliases.find(f"owner-{name}") is not None
    return AliasMatch(name, user, found, owned)


def alias_tables(spec: str, opened: Callable[[str], Map]) -> Maps:
    """The alias_maps tables, without the types a Linux host lacks (MapError: broken)."""
    tables = [opened(s) for s in map_list(spec) if split_spec(s)[0] not in _SKIPPED_TYPES]
    return Maps("alias_maps", tuple(tables))


def delivered_to(content: bytes) -> frozenset[str]:
    """The (folded) ``Delivered-To:`` addresses in the message header."""
    end = content.find(b"\r\n\r\n")
    header = content[: end if end >= 0 else len(content)].decode("utf-8", "replace")
    found = set()
    for field in header.replace("\r\n\t", " ").replace("\r\n ", " ").split("\r\n"):
        name, colon, value = field.partition(":")
        if colon and name.strip().lower() == "delivered-to":
            found.add(fold(value.strip()))
    return frozenset(found)


def mailbox_file(sender: str, recipient: DeliveryRecipient, content: bytes,
                 original: bool) -> bytes:
    """What the Maildir file holds: Postfix's three headers, then the message, LF ends."""
    lines = [f"Return-Path: <{quote_localpart(sender) if sender else ''}>"]
    if original:
        lines.append(f"X-Original-To: {quote_localpart(recipient.original or recipient.address)}")
    lines.append(f"Delivered-To: {quote_localpart(recipient.address)}")
    body = content.replace(b"\r\n", b"\n")
    if body and not body.endswith(b"\n"):
        body += b"\n"
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape") + body


def _result(recipient: DeliveryRecipient, status: Status, dsn: str, reason: str,
            action: str = "") -> RecipientResult:
    return RecipientResult(recipient.index, status, dsn, reason, relay=RELAY, action=action)


class LocalAgent:
    def __init__(self, settings: LocalSettings, log: Log, forward: ForwardFunction, *,
                 users: UserLookup = pwd.getpwnam, maps: MapCache | None = None) -> None:
        self.settings = settings
        self._log = log
        self._forward = forward
        self._users = users
        self._maps = maps or MapCache()

    @classmethod
    def from_config(cls, config: Config, log: Log, forward: ForwardFunction) -> LocalAgent:
        return cls(LocalSettings.from_config(config), log, forward)

    async def deliver(self, request: DeliveryRequest, content: bytes) -> list[RecipientResult]:
        aliases = self._alias_maps()
        seen = delivered_to(content)
        results = []
        for recipient in request.recipients:
            if fold(recipient.address) in seen:
                results.append(_result(recipient, Status.BOUNCED, "5.4.6",
                                       f"mail forwarding loop for {recipient.address}"))
            elif aliases is None:
                results.append(_result(recipient, Status.DEFERRED, "4.3.0", UNAVAILABLE))
            else:
                results.append(await self._recipient(request, recipient, content, aliases))
        return results

    async def close(self) -> None:
        self._maps.close()

    # -- aliases ----------------------------------------------------------------------------

    def _alias_maps(self) -> Maps | None:
        """The alias tables, reopened if replaced; None (and a warning) if one is broken."""
        try:
            return alias_tables(self.settings.alias_maps, self._maps.get)
        except MapError as e:
            self._log(f"warning: alias_maps: {e}")
            return None

    async def _recipient(self, request: DeliveryRequest, recipient: DeliveryRecipient,
                         content: bytes, aliases: Maps) -> RecipientResult:
        try:
            alias = find_alias(aliases, recipient.address, self.settings.recipient_delimiter)
        except MapLookupError as e:
            self._log(f"warning: {e}")
            return _result(recipient, Status.DEFERRED, "4.3.0", UNAVAILABLE)
        if alias.value is None:
            return await self._mailbox(request, recipient, content, alias.user)
        return await self._alias(request, recipient, content, (alias.name, alias.user),
                                 alias.value, alias.owned)

    async def _alias(self, request: DeliveryRequest, recipient: DeliveryRecipient,
                     content: bytes, names: tuple[str, str], value: str,
                     owned: bool) -> RecipientResult:
        """Forward to the alias's addresses; *names* are (the alias found, the user)."""
        name, user = names
        try:
            targets = alias_targets(value)
        except Refused as e:
            return _result(recipient, Status.BOUNCED, "5.3.0", str(e))
        domain = fold(recipient.address.rpartition("@")[2])
        own = {domain, fold(self.settings.myorigin), fold(self.settings.myhostname)}
        addresses: dict[str, str] = {}
        self_entry = False
        for target in targets:
            local, at, where = target.rpartition("@")
            if fold(local if at else target) == name and (not at or fold(where) in own):
                self_entry = True  # "root: root, ...": this one goes to root's mailbox
                continue
            address = target if at else f"{target}@{self.settings.myorigin}"
            addresses.setdefault(fold(address), address)
        if not addresses and not self_entry:
            self._log(f"warning: no recipient in alias lookup result for {name}")
            return _result(recipient, Status.DEFERRED, "4.3.0", UNAVAILABLE)
        if self_entry:
            delivered = await self._mailbox(request, recipient, content, user)
            if delivered.status is not Status.SENT or not addresses:
                return delivered
        return await self._forward_to(request, recipient, content, tuple(addresses.values()),
                                      f"owner-{name}@{self.settings.myorigin}" if owned else None)

    async def _forward_to(self, request: DeliveryRequest, recipient: DeliveryRecipient,
                          content: bytes, addresses: tuple[str, ...],
                          owner: str | None) -> RecipientResult:
        header = f"Delivered-To: {quote_localpart(recipient.address)}\r\n"
        message = Forward(
            sender=owner if owner is not None else request.sender,
            recipients=addresses,
            content=header.encode("utf-8", "surrogateescape") + content,
            original_queue_id=request.queue_id,
            original_recipient="" if owner else (recipient.original or recipient.address),
        )
        try:
            queue_id = await self._forward(message)
        except OSError as e:
            self._log(f"warning: {request.queue_id}: forward: {e}")
            return _result(recipient, Status.DEFERRED, "4.3.0", "queue file write error")
        return _result(recipient, Status.SENT, "2.0.0", f"forwarded as {queue_id}",
                       "expanded")

    # -- mailbox ----------------------------------------------------------------------------

    def _maildir(self, entry: UserEntry) -> str | None:
        """The user's Maildir (with a trailing /), or None for (unsupported) mbox."""
        home, spool = self.settings.home_mailbox, self.settings.mail_spool_directory
        if home:
            return os.path.join(entry.pw_dir, home) if home.endswith("/") else None
        return os.path.join(spool, entry.pw_name) + "/" if spool.endswith("/") else None

    async def _mailbox(self, request: DeliveryRequest, recipient: DeliveryRecipient,
                       content: bytes, user: str) -> RecipientResult:
        try:
            entry = self._users(user)
        except KeyError:
            return _result(recipient, Status.BOUNCED, "5.1.1", f'unknown user: "{user}"')
        path = self._maildir(entry)
        if path is None:
            self._log("warning: mbox delivery is not supported: end mail_spool_directory "
                      "or home_mailbox with / for Maildir delivery")
            return _result(recipient, Status.DEFERRED, "4.3.0", "mail system configuration error")
        data = mailbox_file(request.sender, recipient, content,
                            self.settings.enable_original_recipient)
        owner = maildir.Owner(entry.pw_uid, entry.pw_gid) if os.geteuid() == 0 else None
        try:
            await asyncio.to_thread(maildir.deliver, path, data, owner=owner,
                                    size_limit=self.settings.mailbox_size_limit)
        except maildir.MaildirError as e:
            status = Status.DEFERRED if e.temporary else Status.BOUNCED
            return _result(recipient, status, e.dsn, f"maildir delivery failed: {e.reason}")
        return _result(recipient, Status.SENT, "2.0.0", "delivered to maildir",
                       "delivered")
