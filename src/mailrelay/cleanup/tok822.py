"""Postfix's RFC 822 address tokenizer and parser (global/tok822_parse.c), pure.

:func:`parse` turns a header value or an address argument into a token list: address tokens
(``ADDR``) hold the tokens of one address; phrases, angle brackets, group syntax, commas and
comments stay at the top level around them.  The parser is more lenient than RFC 5322 and
works from right to left: a missing comma is inserted between two words (``John Doe`` is two
addresses), comments are moved out of the address they were in, to just after it.

:func:`externalize` writes a token list back as Postfix does, address by address in the
normalized form (internal form, local part quoted only where needed: ``"c.d"`` becomes
``c.d``), with a newline after each top-level comma when *lines* is set (for folding).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Kind(enum.Enum):
    SENTINEL = "sentinel"
    ATOM = "atom"
    QSTRING = "quoted string"
    DOMLIT = "domain literal"
    COMMENT = "comment"
    COMMENT_TEXT = "comment text"
    ADDR = "address"
    STARTGRP = "group start"
    OPERATOR = "operator"


@dataclass(slots=True)
class Token:
    kind: Kind
    text: str = ""
    parts: list[Token] = field(default_factory=list)

    def op(self, chars: str) -> bool:
        return self.kind is Kind.OPERATOR and self.text in chars


#: tok822_opchar: ``%``, ``!`` and ``|`` are operators too; ``\\`` is not.
_OPERATORS = frozenset('|%!()<>@,;:".[]')
_SPACE = frozenset(" \t\r\n")
_DO_WORD = 1
_DO_GROUP = 2


def _collect(text: str, i: int, stop: frozenset[str]) -> tuple[str, int]:
    """Postfix's COLLECT: up to an unescaped character of *stop*; a backslash quotes."""
    out: list[str] = []
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 1
            if i >= len(text):
                break
            c = text[i]
        elif c in stop:
            break
        out.append(" " if c in _SPACE else c)
        i += 1
    return "".join(out), i


def _comment(text: str, i: int) -> tuple[Token, int]:
    """tok822_comment(): *i* is just after ``(``; comments nest, a backslash quotes."""
    tok = Token(Kind.COMMENT)
    chars: list[str] = []

    def flush() -> None:
        if chars:
            tok.parts.append(Token(Kind.COMMENT_TEXT, "".join(chars)))
            chars.clear()

    while i < len(text):
        c = text[i]
        i += 1
        if c == "(":
            flush()
            inner, i = _comment(text, i)
            tok.parts.append(inner)
        elif c == ")":
            break
        else:
            if c == "\\":
                if i >= len(text):
                    break
                c = text[i]
                i += 1
            chars.append(c)
    flush()
    return tok, i


def _needs_quotes(atom: str) -> bool:
    """tok822_quote_atom(): an atom holding (escaped) specials is written quoted."""
    return any(c in _SPACE or c in _OPERATORS or ord(c) < 32 or ord(c) == 127 for c in atom)


def scan(text: str) -> list[Token]:
    """tok822_scan(): the flat token list, comments included."""
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c in _SPACE:
            i += 1
        elif c == "(":
            tok, i = _comment(text, i + 1)
            tokens.append(tok)
        elif c in "[\"":
            value, i = _collect(text, i + 1, frozenset("]" if c == "[" else '"'))
            i += 1  # the closing bracket or quote, if any
            tokens.append(Token(Kind.DOMLIT if c == "[" else Kind.QSTRING, value))
        elif c in _OPERATORS:
            tokens.append(Token(Kind.OPERATOR, c))
            i += 1
        else:
            value, i = _collect(text, i, _SPACE | _OPERATORS)
            tokens.append(Token(Kind.QSTRING if _needs_quotes(value) else Kind.ATOM, value))
    return tokens


def parse(text: str) -> list[Token]:
    """tok822_parse(): right to left, grouping address tokens, adding missing commas and
    moving comments out of addresses."""
    toks = [Token(Kind.SENTINEL), *scan(text), Token(Kind.SENTINEL)]

    def group(left: int, right: int, comma: bool) -> None:
        if left + 1 < right:
            node = Token(Kind.ADDR, parts=toks[left + 1 : right])
            toks[left + 1 : right] = [Token(Kind.OPERATOR, ","), node] if comma else [node]

    def skip_left(i: int, stop: str) -> int:
        while toks[i].kind is not Kind.SENTINEL and not toks[i].op(stop):
            i -= 1
        return i

    state = _DO_WORD
    right = len(toks) - 1
    tp = right - 1
    while toks[tp].kind is not Kind.SENTINEL:
        tok = toks[tp]
        if tok.kind is Kind.COMMENT:  # to the side, just before right
            toks.pop(tp)
            right -= 1
            toks.insert(right, tok)
            tp -= 1
            continue
        if tok.op(";"):
            group(tp, right, True)
            right, state = tp, _DO_GROUP | _DO_WORD
        elif tok.op(":") and state & _DO_GROUP:
            toks[tp] = Token(Kind.STARTGRP, ":")
            group(tp, right, False)
            tp = right = skip_left(tp, ",")
            continue
        elif tok.op(">"):
            group(tp, right, True)
            right = tp
            while toks[tp].kind is not Kind.SENTINEL and not toks[tp].op("<"):
                moved = toks[tp]
                if moved.kind is Kind.COMMENT:
                    toks.pop(tp)
                    right -= 1
                    toks.insert(right, moved)
                tp -= 1
            group(tp, right, False)
            tp = right = skip_left(tp, ">;,:")
            state |= _DO_WORD
            continue
        elif tok.kind in (Kind.ATOM, Kind.QSTRING, Kind.DOMLIT):
            if not state & _DO_WORD:
                group(tp, right, True)
                right = tp + 1
            state &= ~_DO_WORD
        elif tok.op(","):
            group(tp, right, False)
            right, state = tp, state | _DO_WORD
        else:
            state |= _DO_WORD
        tp -= 1
    group(tp, right, False)
    return toks[1:-1]


def internalize(tokens: list[Token]) -> str:
    """tok822_internalize() of an address: its tokens' text, unquoted, without spaces."""
    out: list[str] = []
    for tok in tokens:
        if tok.kind is Kind.ADDR:
            out.append(internalize(tok.parts))
        elif tok.kind is Kind.DOMLIT:
            out.append(f"[{tok.text}]")
        else:
            out.append(tok.text)
    return "".join(out)


def addresses(text: str) -> list[str]:
    """Every address in *text* (a header value or a command-line argument), internal form."""
    return [internalize(t.parts) for t in parse(text) if t.kind is Kind.ADDR]


# ---------------------------------------------------------------- writing back


def _quoted(text: str, specials: str) -> str:
    """tok822_copy_quoted(): a backslash before each character of *specials*."""
    return "".join(f"\\{c}" if c in specials else c for c in text)


_NOT_IN_DOT_ATOM = frozenset('()<>@,;:\\"[] ')


def quote_822_local(address: str) -> str:
    """quote_822_local() (8-bit clean): the local part quoted unless it is a dot-string."""
    at = address.rfind("@")
    local, domain = (address, "") if at < 0 else (address[:at], address[at:])
    if (local and not local.startswith(".") and not local.endswith(".") and ".." not in local
            and not any(c in _NOT_IN_DOT_ATOM or ord(c) < 32 or ord(c) == 127
                        for c in local)):
        return address
    return '"' + _quoted(local, '"\\\r') + '"' + domain


def _space_after(tok: Token, nxt: Token) -> bool:
    """tok822_append_space() for top-level tokens."""
    if tok.kind is Kind.STARTGRP or tok.op(",") or nxt.op("<"):
        return True
    words = (Kind.ATOM, Kind.QSTRING, Kind.COMMENT, Kind.DOMLIT, Kind.ADDR)
    return tok.kind in words and nxt.kind in words


def _token_text(tok: Token) -> str:
    """One token as tok822_externalize() writes it (owned tokens: no spaces between)."""
    kind = tok.kind
    if kind is Kind.ATOM or kind is Kind.OPERATOR:
        return tok.text
    if kind is Kind.QSTRING:
        return '"' + _quoted(tok.text, '"\\\r\n') + '"'
    if kind is Kind.DOMLIT:
        return "[" + _quoted(tok.text, "\\\r\n") + "]"
    if kind is Kind.COMMENT:
        return "(" + "".join(_token_text(t) for t in tok.parts) + ")"
    if kind is Kind.COMMENT_TEXT:
        return _quoted(tok.text, "()\\\r\n")
    if kind is Kind.STARTGRP:
        return ":"
    if kind is Kind.ADDR:
        return quote_822_local(internalize(tok.parts))
    return ""


def externalize_raw(tokens: list[Token]) -> str:
    """The tokens of one address, as written (no normalization, no spaces)."""
    return "".join(_token_text(t) for t in tokens)


def externalize(tokens: list[Token], *, lines: bool = False) -> str:
    """tok822_externalize() of a parsed list: addresses normalized, a newline after each
    comma when *lines* (TOK822_STR_LINE)."""
    out: list[str] = []
    last = len(tokens) - 1
    for i, tok in enumerate(tokens):
        if tok.op(","):
            out.append(",")
            if lines:
                out.append("\n")
                continue
        else:
            out.append(_token_text(tok))
        if i < last and _space_after(tok, tokens[i + 1]):
            out.append(" ")
    return "".join(out)
