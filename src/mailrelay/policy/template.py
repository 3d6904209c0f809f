"""Reply templates with per-session ``$name``s (``default_rbl_reply``, ``rbl_reply_maps``).

This is mac_expand() as smtpd calls it for reply templates: ``$name``, ``${name}``,
``$(name)``, ``${name?text}`` (text when the value is not empty), ``${name:text}`` (text when
it is), ``${name?{t1}:{t2}}`` and ``$$``.  Unlike main.cf expansion, a value is *not*
expanded again: a DNS TXT record or a client's HELO name with a ``$`` in it stays literal.
Values pass through ``smtpd_expansion_filter``: characters not in the filter become ``_``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

Lookup = Callable[[str], "str | None"]
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


class TemplateError(ValueError):
    """A template that cannot be expanded (unbalanced brackets)."""


def unescape(text: str) -> str:
    """Postfix's unescape(): C escapes, ``\\ooo`` octal included."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "\\" or i + 1 == len(text):
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt in "01234567":
            j = i + 1
            while j < len(text) and j < i + 4 and text[j] in "01234567":
                j += 1
            out.append(chr(int(text[i + 1:j], 8)))
            i = j
            continue
        out.append(_ESCAPES.get(nxt, nxt))
        i += 2
    return "".join(out)


def _closing(text: str, start: int, open_ch: str, close_ch: str) -> int:
    depth = 0
    for i in range(start, len(text)):
        if text[i] == open_ch:
            depth += 1
        elif text[i] == close_ch:
            depth -= 1
            if depth == 0:
                return i
    raise TemplateError(f"unbalanced {open_ch} in: {text}")


def _braced(text: str) -> str:
    text = text.strip()
    return text[1:-1] if text.startswith("{") and text.endswith("}") else text


def _body(body: str, lookup: Lookup) -> str:
    name_end = 0
    while name_end < len(body) and (body[name_end].isalnum() or body[name_end] == "_"):
        name_end += 1
    name, rest = body[:name_end], body[name_end:].lstrip()
    value = lookup(name)
    if not rest:
        return value or ""
    if rest[0] not in "?:":
        raise TemplateError(f"bad macro: ${{{body}}}")
    present = bool(value)
    branch = rest[1:]
    if branch.lstrip().startswith("{") and rest[0] == "?":
        close = _closing(branch, branch.index("{"), "{", "}")
        when_true, tail = branch[:close + 1], branch[close + 1:].strip()
        when_false = tail[1:] if tail.startswith(":") else ""
        chosen = when_true if present else when_false
        return expand(_braced(chosen), lookup) if chosen else ""
    wanted = present if rest[0] == "?" else not present
    return expand(_braced(branch), lookup) if wanted else ""


def expand(template: str, lookup: Lookup) -> str:
    out: list[str] = []
    i = 0
    while i < len(template):
        ch = template[i]
        if ch != "$" or i + 1 == len(template):
            out.append(ch)
            i += 1
            continue
        nxt = template[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt in "{(":
            close = _closing(template, i + 1, nxt, "}" if nxt == "{" else ")")
            out.append(_body(template[i + 2:close], lookup))
            i = close + 1
        else:
            j = i + 1
            while j < len(template) and (template[j].isalnum() or template[j] == "_"):
                j += 1
            if j == i + 1:  # a lone "$" is kept as text
                out.append("$")
                i += 1
                continue
            out.append(lookup(template[i + 1:j]) or "")
            i = j
    return "".join(out)


def filtered(values: Mapping[str, str], allowed: str) -> Lookup:
    """A lookup of *values* whose characters outside *allowed* are replaced by ``_``."""
    keep = frozenset(unescape(allowed))

    def lookup(name: str) -> str | None:
        value = values.get(name)
        if value is None or not keep:
            return value
        return "".join(c if c in keep else "_" for c in value)

    return lookup
