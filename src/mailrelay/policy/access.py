"""access(5): what an access table's answer means, and RFC 3463 status helpers.

:func:`parse_value` turns the right-hand side of an access table entry into a
:class:`TableValue`, exactly as Postfix's check_table_result() reads it: the first word
(case-insensitive) is the action, the rest its text.

=================  ==========================================================================
``OK``, ``RELAY``  permit; trailing text ignored.  An all-numeric value is OK as well.
``REJECT [text]``  $access_map_reject_code, default "Access denied", DSN 5.7.1 or the text's
``DEFER [text]``   $access_map_defer_code, same texts, DSN 4.7.1
``4NN/5NN text``   that code; the text may start with a DSN (5.7.1 / 4.7.1 otherwise)
``DEFER_IF_*``     defer later if something permits / rejects ("Service unavailable")
``DUNNO``          stop looking in this table (no parent domain, no shorter network)
``HOLD`` ...       actions for the whole message (HOLD, DISCARD, FILTER, REDIRECT, BCC,
                   PREPEND) and log-only actions (WARN, INFO); evaluation continues
anything else      a list of restrictions (or restriction class names) evaluated in place
=================  ==========================================================================

A DSN in a table is adapted to what is being refused (smtpd_dsn_fix): a recipient status
(5.1.1) becomes the matching sender status (5.1.7) when a sender is refused, and a generic
5.0.0 when something that is not an address is refused.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from mailrelay.util.tokens import split_list

#: Postfix's reply classes (SMTPD_NAME_*): the words between the name and "rejected".
CLIENT = "Client host"
REVERSE_CLIENT = "Unverified Client host"
HELO = "Helo command"
SENDER = "Sender address"
RECIPIENT = "Recipient address"
DATA = "Data command"
END_OF_DATA = "End-of-data"
SASL_USER = "SASL login name"


class Kind(enum.Enum):
    OK = "OK"
    DUNNO = "DUNNO"
    REJECT = "REJECT"
    DEFER = "DEFER"
    NUMERIC = "NUMERIC"
    DEFER_IF_PERMIT = "DEFER_IF_PERMIT"
    DEFER_IF_REJECT = "DEFER_IF_REJECT"
    HOLD = "HOLD"
    DISCARD = "DISCARD"
    FILTER = "FILTER"
    REDIRECT = "REDIRECT"
    BCC = "BCC"
    PREPEND = "PREPEND"
    WARN = "WARN"
    INFO = "INFO"
    HANGUP = "HANGUP"
    #: Not an action: restrictions to evaluate (``text`` is the whole value).
    RESTRICTIONS = "RESTRICTIONS"


_WORDS = {k.value: k for k in Kind if k not in (Kind.NUMERIC, Kind.RESTRICTIONS)}
_WORDS["RELAY"] = Kind.OK


@dataclass(frozen=True, slots=True)
class TableValue:
    kind: Kind
    #: The first word as written (for permit logging: ``action=OK``).
    word: str
    #: The text after the first word, leading white space removed.
    text: str
    #: NUMERIC: the reply code.
    code: int = 0

    def restrictions(self) -> list[str]:
        return split_list(self.text)


def parse_value(value: str) -> TableValue:
    """The meaning of an access table result (check_table_result's parse)."""
    cut = len(value)
    for i, ch in enumerate(value):
        if ch in " \t":
            cut = i
            break
    word, text = value[:cut], value[cut:].lstrip(" \t\n\r\f\v")
    kind = _WORDS.get(word.upper())
    if kind is not None:
        return TableValue(kind, word, text)
    if value.isdigit():
        return TableValue(Kind.OK, word, text)
    if (len(word) == 3 and text and word[0] in "45" and word[1:].isdigit()):
        return TableValue(Kind.NUMERIC, word, text, int(word))
    return TableValue(Kind.RESTRICTIONS, word, value)


# -- RFC 3463 status codes -----------------------------------------------------------------


def dsn_valid(text: str) -> int:
    """Length of the RFC 3463 status at the start of *text* (``5.7.1``), or 0."""
    if len(text) < 2 or text[0] not in "245" or text[1] != ".":
        return 0
    i = 2
    for limit, last in ((3, False), (3, True)):
        start = i
        while i < len(text) and text[i].isdigit() and text[i].isascii():
            i += 1
        if not 1 <= i - start <= limit:
            return 0
        if not last:
            if i >= len(text) or text[i] != ".":
                return 0
            i += 1
    if i < len(text) and not text[i].isspace():
        return 0
    return i


def dsn_split(default: str, text: str) -> tuple[str, str]:
    """(status, text): the status that starts *text*, or *default*; white space skipped."""
    text = text.lstrip()
    length = dsn_valid(text)
    if length:
        return text[:length], text[length + 1:].lstrip()
    return default, text


#: smtpd_dsn_fix's table: the last digit of an x.1.y address status, as sender / recipient.
_ADDRESS_DSN = {
    "1": ("4.1.7", "4.1.1"), "2": ("4.1.8", "4.1.2"), "3": ("4.1.7", "4.1.3"),
    "4": ("4.1.7", "4.1.4"), "5": ("4.1.0", "4.1.5"), "6": ("4.1.7", "4.1.6"),
    "7": ("4.1.7", "4.1.3"), "8": ("4.1.8", "4.1.2"),
}


def dsn_fix(status: str, reply_class: str) -> tuple[str, str | None]:
    """smtpd_dsn_fix(): (status for this reply class, info log text when it changed).

    The first digit is left to the caller, which makes it agree with the reply code.
    """
    if not (status[:1].isdigit() and status[1:4] == ".1."):
        return status, None
    sender, recipient = _ADDRESS_DSN.get(status[4:], ("4.1.0", "4.1.0"))
    if reply_class == SENDER:
        result = sender
    elif reply_class == RECIPIENT:
        result = recipient
    else:
        result = "4.0.0"
    note = None
    if status[2:] != result[2:]:
        note = (f"mapping DSN status {status} into {reply_class} status "
                f"{status[0]}{result[1:]}")
    return result, note
