"""An SMTP reply as a value: ``Reply(code, enhanced, text)``.

Errors are values that carry their reply: a stage that refuses something returns (or raises)
a :class:`Reply`; only the protocol layer turns it into bytes.  A reply with several lines
keeps them in ``text`` separated by ``\\n`` and renders them the way Postfix does, each line
with the code and, when there is one, the enhanced status code::

    >>> Reply(250, "", "relay.example\\nPIPELINING").render()
    b'250-relay.example\\r\\n250 PIPELINING\\r\\n'
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Reply:
    #: The three-digit reply code (RFC 5321 section 4.2).
    code: int
    #: The RFC 3463 enhanced status code (``"5.1.1"``), or ``""`` for replies that have none
    #: (Postfix sends ``501 Syntax: HELO hostname`` and the ETRN replies without one).
    enhanced: str
    #: The text; ``\n`` separates the lines of a multi-line reply.
    text: str

    def __post_init__(self) -> None:
        if not 200 <= self.code <= 599:
            raise ValueError(f"bad SMTP reply code: {self.code}")

    @property
    def is_positive(self) -> bool:
        return self.code < 400

    @property
    def is_transient(self) -> bool:
        return 400 <= self.code < 500

    @property
    def is_permanent(self) -> bool:
        return self.code >= 500

    @property
    def disconnects(self) -> bool:
        """421 and 521 end the session: Postfix's smtpd hangs up after sending them."""
        return self.code in (421, 521)

    def format(self, **fields: object) -> Reply:
        """The reply with ``{name}`` fields of its text filled in (the table's templates)."""
        return Reply(self.code, self.enhanced, self.text.format(**fields))

    def with_code(self, code: int) -> Reply:
        """The same reply with another code (``smtpd_forbid_bare_newline_reject_code``)."""
        return Reply(code, self.enhanced, self.text)

    def lines(self) -> list[str]:
        """The reply as lines of text without CRLF."""
        prefix = f"{self.enhanced} " if self.enhanced else ""
        parts = self.text.split("\n")
        last = len(parts) - 1
        return [
            f"{self.code}{' ' if i == last else '-'}{prefix}{part}" for i, part in enumerate(parts)
        ]

    def render(self) -> bytes:
        """The bytes to send, every line ending in CRLF.

        Text is sent as UTF-8 (a reply may quote an SMTPUTF8 address); a reply never contains
        a bare CR or LF because lines are split on ``\\n`` and CRs are not allowed in text.
        """
        if "\n" not in self.text:  # nearly every reply (7 a message): no list, no join
            prefix = f"{self.enhanced} " if self.enhanced else ""
            return f"{self.code} {prefix}{self.text}\r\n".encode("utf-8", "surrogateescape")
        return "".join(line + "\r\n" for line in self.lines()).encode("utf-8", "surrogateescape")

    def __str__(self) -> str:
        return "\n".join(self.lines())
