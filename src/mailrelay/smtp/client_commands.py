"""The envelope commands the SMTP client sends, with Postfix's parameters and quoting (pure).

``MAIL FROM:<sender>`` takes, in this order and only when the server offers the extension:
``SIZE=`` (not when the content will be converted to 7 bit: its size would change),
``BODY=8BITMIME`` or ``BODY=7BIT``, ``ENVID=`` and ``RET=`` (DSN), ``SMTPUTF8`` (when the
sender asked for it) and ``AUTH=<>`` (``smtp_send_dummy_mail_auth``).  ``RCPT TO:<address>``
takes ``ORCPT=`` and ``NOTIFY=`` when the server offers DSN; without an ORCPT of its own a
recipient's original address is sent, as ``rfc822;address``.  Addresses whose local part is
not an RFC 5321 dot-string are quoted (``smtp_quote_rfc821_envelope``).
"""

from __future__ import annotations

from dataclasses import dataclass

from mailrelay.queue.record import Notify
from mailrelay.smtp.client_ehlo import Features

_SPECIALS_821 = frozenset('<>()[]\\,;:@"')
#: dsn_notify_str()'s order.
_NOTIFY_NAMES = ((Notify.SUCCESS, "SUCCESS"), (Notify.FAILURE, "FAILURE"),
                 (Notify.DELAY, "DELAY"))


@dataclass(frozen=True, slots=True)
class MailRecipient:
    address: str
    #: DSN ORCPT as stored (``type;address``, decoded), or "".
    orcpt: str = ""
    notify: Notify = Notify.NONE
    #: The address before rewriting, or "".
    original: str = ""


@dataclass(frozen=True, slots=True)
class MailEnvelope:
    """What one transaction sends: the envelope and the facts about the content."""

    sender: str
    recipients: tuple[MailRecipient, ...]
    #: The content size as queued (SIZE=).
    size: int
    #: "", "7BIT" or "8BITMIME".
    body_type: str = ""
    #: The sender asked for SMTPUTF8.
    smtputf8: bool = False
    #: DSN RET ("FULL", "HDRS" or "") and ENVID (decoded).
    dsn_ret: str = ""
    dsn_envid: str = ""


def _is_dot_string(local: str) -> bool:
    if not local or local[0] == "." or local[-1] == "." or ".." in local:
        return False
    return not any(c in _SPECIALS_821 or c <= " " or c == "\x7f" for c in local)


def quote_local_part(address: str) -> str:
    """``john doe@example.com`` → ``"john doe"@example.com`` (quote_821_local())."""
    if not address:
        return address
    local, at, domain = address.rpartition("@")
    if not at:
        local, domain = address, ""
    if _is_dot_string(local):
        return address
    escaped = "".join("\\" + c if c in '"\\' else c for c in local)
    return f'"{escaped}"{at}{domain}'


def xtext(text: str, specials: str = "") -> str:
    """RFC 3461 xtext: ``+`` and anything outside ``!``..``~`` (and *specials*) as ``+HH``."""
    out: list[str] = []
    for byte in text.encode("utf-8"):
        char = chr(byte)
        if byte < 33 or byte > 126 or char == "+" or char in specials:
            out.append(f"+{byte:02X}")
        else:
            out.append(char)
    return "".join(out)


def uxtext(text: str) -> str:
    """RFC 6533 unitext for ``utf-8;`` ORCPTs: UTF-8 kept, ``+ = \\`` and controls escaped."""
    return "".join(f"\\x{{{ord(c):X}}}" if (c in "+=\\" or c < "!" or c == "\x7f") else c
                   for c in text)


def notify_value(notify: Notify) -> str:
    if notify & Notify.NEVER:
        return "NEVER"
    return ",".join(name for flag, name in _NOTIFY_NAMES if notify & flag)


def mail_command(envelope: MailEnvelope, features: Features, *, downgrade: bool,
                 quote: bool = True, dummy_auth: bool = False) -> bytes:
    sender = quote_local_part(envelope.sender) if quote else envelope.sender
    words = [f"MAIL FROM:<{sender}>"]
    if features.size and not downgrade:
        words.append(f"SIZE={envelope.size}")
    if features.eight_bit_mime and envelope.body_type in ("8BITMIME", "7BIT"):
        words.append(f"BODY={envelope.body_type}")
    if features.dsn:
        if envelope.dsn_envid:
            words.append("ENVID=" + xtext(envelope.dsn_envid, "+="))
        if envelope.dsn_ret:
            words.append(f"RET={envelope.dsn_ret}")
    if features.smtputf8 and envelope.smtputf8:
        words.append("SMTPUTF8")
    if dummy_auth and features.auth:
        words.append("AUTH=<>")
    return (" ".join(words) + "\r\n").encode("utf-8", "surrogateescape")


def _orcpt(recipient: MailRecipient, smtputf8: bool) -> str:
    value = recipient.orcpt
    if not value:
        original = recipient.original or recipient.address
        if not original:
            return ""
        original = quote_local_part(original)
        kind = "utf-8" if smtputf8 and not original.isascii() else "rfc822"
        value = f"{kind};{original}"
    kind, _, address = value.partition(";")
    if kind.lower() == "utf-8":
        return f"{kind};{uxtext(address)}"
    return xtext(value, "=")


def rcpt_command(recipient: MailRecipient, features: Features, *, smtputf8: bool,
                 quote: bool = True) -> bytes:
    address = quote_local_part(recipient.address) if quote else recipient.address
    words = [f"RCPT TO:<{address}>"]
    if features.dsn:
        orcpt = _orcpt(recipient, smtputf8)
        if orcpt:
            words.append(f"ORCPT={orcpt}")
        if recipient.notify:
            words.append(f"NOTIFY={notify_value(recipient.notify)}")
    return (" ".join(words) + "\r\n").encode("utf-8", "surrogateescape")
