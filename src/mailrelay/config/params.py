"""THE parameter table: every main.cf parameter mailrelay knows, declared once.

Each entry gives the Postfix name, the default text exactly as Postfix 3.7's ``postconf -d``
prints it (unexpanded), the kind of value, and one line of documentation.  ``postconf -d``,
``postconf -n``'s unknown-parameter warnings, ``check`` and the typed :class:`Config` all come
from this table; nothing reads a parameter that is not here.

Defaults that Postfix computes at run time (``myhostname``, ``mydomain``, ``mynetworks``...)
carry a ``compute`` function instead of a constant.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass


class Kind(enum.Enum):
    STR = "string"
    LIST = "list"
    BOOL = "boolean"
    INT = "integer"
    TIME = "time"
    #: A byte count (``message_size_limit``); plain decimal, as in Postfix.
    SIZE = "size"


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    default: str
    kind: Kind
    doc: str
    #: Unit of a bare number, for TIME parameters (Postfix's per-parameter default unit).
    unit: str = "s"
    minimum: int | None = None
    maximum: int | None = None
    #: Computes the default when Postfix does so at run time (``postconf -d`` prints the result).
    compute: Callable[[], str] | None = None
    #: Read only by mailrelay, not a Postfix parameter.
    mailrelay_only: bool = False


_TABLE: tuple[Param, ...] = (
    Param("config_directory", "/etc/postfix", Kind.STR,
          "The directory with main.cf and master.cf."),
    Param("myhostname", "", Kind.STR,
          "The fully-qualified domain name of this host."),
    Param("mydomain", "", Kind.STR,
          "The internet domain name of this host."),
    Param("myorigin", "$myhostname", Kind.STR,
          "The domain that locally-posted mail appears to come from."),
    Param("relayhost", "", Kind.STR,
          "The next-hop destination(s) of non-local mail; overrides the MX lookup."),
    Param("maximal_queue_lifetime", "5d", Kind.TIME,
          "How long a message stays in the queue before it is sent back as undeliverable.",
          unit="d"),
)

PARAMETERS: dict[str, Param] = {p.name: p for p in _TABLE}
