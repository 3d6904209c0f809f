"""Header address rewriting (local or remote context), as cleanup_rewrite_sender/recip.

Postfix rewrites the address headers (header_opts.c: the HDR_OPT_SENDER and HDR_OPT_RECIP
fields below) of mail in the "local" rewriting context (a client in
local_header_rewrite_clients, or sendmail/pickup), and in the "remote" context (other
clients, when remote_header_rewrite_domain is set: that domain stands for myorigin and
mydomain, see CleanupSettings.header_context).  Captured in tests/golden/cleanup
(header-*.postcat) and tests/golden/cleanup-rewrite-context; the rules:

* The value is parsed with tok822 (:mod:`mailrelay.cleanup.tok822`); each address goes
  through trivial-rewrite's rewrite_tree(): a source route is removed (``<@a,@b:u@d>`` is
  ``<u@d>``), an address without ``@`` has its bang path or percent hack turned round
  (``site!user`` is ``user@site``, ``u%d`` is ``u@d``), ``@$myorigin`` is appended to a bare
  local part, ``.$mydomain`` to a domain
  without a dot when append_dot_mydomain, a trailing dot is removed.  The empty address
  (``<>``, ``""``) is left alone.
* The header is written again only when some address came out different from how it was
  written (already-qualified headers are kept byte for byte, whitespace and folding
  included).  "Different" compares the written form with the normalized one, so a needlessly
  quoted ``"c.d"@x`` is rewritten to ``c.d@x`` too.
* A rewritten header is ``Name: `` (the name as written, case kept) and the parsed list
  written back: one space between words, comments after the address they were in, one
  address per line, then the lines joined with a space while the line stays under 70
  characters; continuation lines start with a tab.
"""

from __future__ import annotations

from collections.abc import Callable

from mailrelay.cleanup.settings import REMOTE_CONTEXT, CleanupSettings
from mailrelay.cleanup.tok822 import (
    Kind,
    Token,
    externalize,
    externalize_raw,
    internalize,
    quote_822_local,
    scan,
)
from mailrelay.cleanup.tok822 import parse as parse_addresses

#: Lower-case names of the fields whose addresses are rewritten (HDR_OPT_SENDER, _RECIP).
ADDRESS_FIELDS = frozenset({
    "apparently-to", "bcc", "cc", "disposition-notification-to", "errors-to", "from",
    "mail-followup-to", "reply-to", "resent-bcc", "resent-cc", "resent-from",
    "resent-reply-to", "resent-sender", "resent-to", "return-path", "return-receipt-to",
    "sender", "to",
})

#: Fields with HDR_OPT_RR: when one is present, missing headers are added as Resent-*.
RESENT_FIELDS = frozenset({
    "resent-bcc", "resent-cc", "resent-date", "resent-from", "resent-message-id",
    "resent-reply-to", "resent-sender", "resent-to",
})

#: cleanup_fold_header(): lines are joined while shorter than this.
FOLD_WIDTH = 70


def rewrite_tokens(parts: list[Token], settings: CleanupSettings) -> list[Token]:
    """trivial-rewrite's rewrite_tree() for the local context, on one address's tokens."""
    if len(parts) == 1 and parts[0].kind is Kind.QSTRING and not parts[0].text:
        return parts
    if len(parts) == 1 and parts[0].op("@"):
        return [Token(Kind.QSTRING, "")]
    if parts[0].op("@"):
        colon = next((i for i, t in enumerate(parts) if t.op(":")), None)
        if colon is not None and colon != len(parts) - 1:
            parts = parts[colon + 1 :]
    parts = _route_operators(parts, settings)
    at = next((i for i in range(len(parts) - 1, -1, -1) if parts[i].op("@")), None)
    if at is None and settings.append_at_myorigin and settings.myorigin:
        at = len(parts)
        parts = [*parts, Token(Kind.OPERATOR, "@"), *scan(settings.myorigin)]
    if (settings.append_dot_mydomain and settings.mydomain and at is not None
            and at != len(parts) - 1
            and not any(t.kind is Kind.DOMLIT or t.op(".") for t in parts[at:])):
        parts = [*parts, Token(Kind.OPERATOR, "."), *scan(settings.mydomain)]
    if (len(parts) > 1 and parts[-1].op(".") and not parts[-2].op(".")
            and not parts[-2].op("@")):
        parts = parts[:-1]
    return parts


def _route_operators(parts: list[Token], settings: CleanupSettings) -> list[Token]:
    """Without an ``@``: ``site!user`` is ``user@site`` (the first ``!``, swap_bangpath),
    else ``user%domain`` is ``user@domain`` (the last ``%``, allow_percent_hack)."""
    if any(t.op("@") for t in parts):
        return parts
    if settings.swap_bangpath:
        bang = next((i for i, t in enumerate(parts) if t.op("!")), None)
        if bang is not None:
            return [*parts[bang + 1 :], Token(Kind.OPERATOR, "@"), *parts[:bang]]
    if settings.allow_percent_hack:
        pct = next((i for i in range(len(parts) - 1, -1, -1) if parts[i].op("%")), None)
        if pct is not None:
            return [*parts[:pct], Token(Kind.OPERATOR, "@"), *parts[pct + 1 :]]
    return parts


def _rewrite_address(addr: Token, settings: CleanupSettings) -> bool:
    """cleanup_rewrite_tree(): rewrite *addr* in place; whether its text changed."""
    before = externalize_raw(addr.parts)
    after = quote_822_local(internalize(rewrite_tokens(addr.parts, settings)))
    addr.parts = scan(after)
    return after != before


def fold(text: str) -> str:
    """cleanup_fold_header() and cleanup_out_header(): *text* has a newline after each
    address; join lines with a space while under FOLD_WIDTH, start the others with a tab."""
    out: list[str] = []
    for i, piece in enumerate(text.split("\n")):
        if i and len(out[-1]) + 1 + len(piece) < FOLD_WIDTH:
            out[-1] += " " + piece
        else:
            out.append(piece)
    return "\r\n".join(line if i == 0 or line[:1] in (" ", "\t") else "\t" + line
                       for i, line in enumerate(out))


def rewrite_addresses(field: bytes, step: Callable[[Token], bool]) -> bytes | None:
    """One address header field (name, colon, value, folded lines included, CRLF at the
    end) with *step* applied to each address token (it rewrites the token's parts in place
    and says whether they changed); written again from the parsed list when one did, None
    when none did (keep the field as written)."""
    text = field.decode("utf-8", "surrogateescape")
    colon = text.index(":")
    # Postfix's header buffer joins folded lines with a bare newline.
    value = text[colon + 1 :].removesuffix("\r\n").replace("\r\n", "\n")
    tokens = parse_addresses(value)
    changed = False
    for tok in tokens:
        if tok.kind is Kind.ADDR and step(tok):
            changed = True
    if not changed:
        return None
    name = text[:colon].rstrip(" \t")
    written = fold(f"{name}: {externalize(tokens, lines=True)}")
    return (written + "\r\n").encode("utf-8", "surrogateescape")


#: Header fields remembered per settings object (see CleanupSettings.memo).
MEMO_FIELDS = 1024


def rewrite_header(field: bytes, settings: CleanupSettings) -> bytes | None:
    """One header field (name, colon, value, folded lines included, CRLF at the end) of an
    ADDRESS_FIELDS name, rewritten; None when nothing changed, to keep it as written.

    A pure function of its arguments, remembered in *settings*' memo (bounded)."""
    memo = settings.memo
    try:
        return memo[field]  # type: ignore[return-value]
    except KeyError:
        pass
    if len(memo) > MEMO_FIELDS:
        remote = memo.get(REMOTE_CONTEXT)
        memo.clear()
        if remote is not None:
            memo[REMOTE_CONTEXT] = remote
    result = memo[field] = _rewrite_header(field, settings)
    return result


def _rewrite_header(field: bytes, settings: CleanupSettings) -> bytes | None:
    return rewrite_addresses(field, lambda tok: _rewrite_address(tok, settings))
