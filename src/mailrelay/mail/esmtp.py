"""The ESMTP parameters of MAIL FROM and RCPT TO, checked as Postfix's smtpd checks them.

SIZE (RFC 1870), BODY (RFC 6152), SMTPUTF8 (RFC 6531), RET, ENVID, NOTIFY, ORCPT (RFC 3461)
and AUTH= (accepted and ignored while the server offers no AUTH, as Postfix does).  Parameters
are read left to right and the first bad one is reported.  The parsers return values or a
:class:`ParamFailure` naming what is wrong; the SMTP layer turns that into Postfix's reply
(one table, ``smtp/replies.py``).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass


class Body(enum.Enum):
    SEVEN_BIT = "7BIT"
    EIGHT_BIT_MIME = "8BITMIME"


class Ret(enum.Enum):
    FULL = "FULL"
    HDRS = "HDRS"


class Notify(enum.Enum):
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    DELAY = "DELAY"


class ParamError(enum.Enum):
    """What is wrong with a parameter; ``smtp/replies.py`` has the reply for each."""

    UNSUPPORTED = "unsupported"  # 555 5.5.4 Unsupported option: X
    BAD_SIZE = "bad size"  # 501 5.5.4 Bad message size syntax
    SIZE_OVERFLOW = "size overflow"  # 552 5.3.4 Message size exceeds file system imposed limit
    BAD_RET = "bad ret"
    BAD_ENVID = "bad envid"
    BAD_NOTIFY = "bad notify"
    BAD_ORCPT = "bad orcpt"
    DSN_DISABLED = "dsn disabled"  # 501 5.7.1 DSN support is disabled


@dataclass(frozen=True, slots=True)
class ParamFailure:
    error: ParamError
    #: The offending parameter as sent (``FOO=bar``).
    option: str
    #: The SIZE= value parsed before the failure: Postfix remembers it (see server.py).
    size: int | None = None


@dataclass(frozen=True, slots=True)
class MailParams:
    size: int | None = None
    body: Body | None = None
    smtputf8: bool = False
    ret: Ret | None = None
    #: ENVID, xtext-decoded.
    envid: str | None = None
    #: AUTH= as sent; accepted and ignored while the SMTP server offers no AUTH, as Postfix does.
    auth: str | None = None


@dataclass(frozen=True, slots=True)
class Orcpt:
    #: The address type (``rfc822``, ``utf-8``...), as sent.
    type: str
    #: The address, xtext-decoded.
    address: str


@dataclass(frozen=True, slots=True)
class RcptParams:
    #: None: not given; an empty set: NEVER.
    notify: frozenset[Notify] | None = None
    orcpt: Orcpt | None = None


#: Postfix keeps sizes in an off_t: a larger SIZE= is the "file system imposed limit" error.
OFF_T_MAX = 2**63 - 1

_HEX = "0123456789abcdefABCDEF"


def xtext_decode(text: str) -> str | None:
    """RFC 3461 xtext (``+2B`` is ``+``); None on a bad ``+XX`` escape, as Postfix."""
    if "+" not in text:
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "+":
            pair = text[i + 1 : i + 3]
            if len(pair) != 2 or pair[0] not in _HEX or pair[1] not in _HEX:
                return None
            out.append(chr(int(pair, 16)))
            i += 3
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _printable(text: str) -> bool:
    return all(" " <= c <= "~" for c in text)


def _param(arg: str) -> tuple[str, str | None]:
    name, eq, value = arg.partition("=")
    return name.upper(), (value if eq else None)


def parse_mail_params(
    args: Sequence[str], *, dsn: bool, smtputf8: bool
) -> MailParams | ParamFailure:
    """MAIL FROM parameters, left to right, with Postfix's checks and their order."""
    size: int | None = None
    body: Body | None = None
    utf8 = False
    ret: Ret | None = None
    envid: str | None = None
    auth: str | None = None
    for arg in args:
        name, value = _param(arg)
        if name == "BODY" and value is not None and value.upper() in ("7BIT", "8BITMIME"):
            body = Body(value.upper())
        elif name == "SIZE" and value is not None:
            if not value.isdigit() or not value.isascii():
                return ParamFailure(ParamError.BAD_SIZE, arg, size)
            if int(value) > OFF_T_MAX:
                return ParamFailure(ParamError.SIZE_OVERFLOW, arg, 0)
            size = int(value)
        elif name == "AUTH" and value is not None:
            auth = value
        elif name == "ENVID" and value is not None:
            if not dsn:
                return ParamFailure(ParamError.DSN_DISABLED, arg, size)
            decoded = xtext_decode(value)
            if envid is not None or not decoded or not _printable(decoded):
                return ParamFailure(ParamError.BAD_ENVID, arg, size)
            envid = decoded
        elif name == "RET" and value is not None:
            if not dsn:
                return ParamFailure(ParamError.DSN_DISABLED, arg, size)
            if ret is not None or value.upper() not in ("FULL", "HDRS"):
                return ParamFailure(ParamError.BAD_RET, arg, size)
            ret = Ret(value.upper())
        elif name == "SMTPUTF8" and value is None and smtputf8:
            utf8 = True
        else:
            return ParamFailure(ParamError.UNSUPPORTED, arg, size)
    return MailParams(size, body, utf8, ret, envid, auth)


def parse_notify(value: str) -> frozenset[Notify] | None:
    """``NEVER`` (the empty set) or a list of SUCCESS, FAILURE, DELAY; None when invalid."""
    names = value.upper().split(",")
    if names == ["NEVER"]:
        return frozenset()
    try:
        return frozenset(Notify(n) for n in names)
    except ValueError:
        return None


def parse_rcpt_params(args: Sequence[str], *, dsn: bool) -> RcptParams | ParamFailure:
    """RCPT TO parameters: NOTIFY and ORCPT (RFC 3461)."""
    notify: frozenset[Notify] | None = None
    orcpt: Orcpt | None = None
    for arg in args:
        name, value = _param(arg)
        if name == "NOTIFY" and value is not None:
            if not dsn:
                return ParamFailure(ParamError.DSN_DISABLED, arg)
            parsed = parse_notify(value)
            if notify is not None or parsed is None:
                return ParamFailure(ParamError.BAD_NOTIFY, arg)
            notify = parsed
        elif name == "ORCPT" and value is not None:
            if not dsn:
                return ParamFailure(ParamError.DSN_DISABLED, arg)
            kind, semi, coded = value.partition(";")
            decoded = xtext_decode(coded) if semi and kind else None
            if orcpt is not None or decoded is None:
                return ParamFailure(ParamError.BAD_ORCPT, arg)
            orcpt = Orcpt(kind, decoded)
        else:
            return ParamFailure(ParamError.UNSUPPORTED, arg)
    return RcptParams(notify, orcpt)
