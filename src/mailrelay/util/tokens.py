"""Splitting Postfix list values.

Postfix splits a list on commas and/or white space, except inside ``{ }`` groups, which keep
an element whole (``inline:{ a=b, c=d }``, ``-o { name = value with spaces }``).  A group used
on its own as an element loses its outer braces and surrounding white space.
"""

from __future__ import annotations

SEPARATORS = " \t\r\n,"


class TokenError(ValueError):
    """Unbalanced ``{`` / ``}`` in a list value."""


def split_list(text: str, separators: str = SEPARATORS) -> list[str]:
    """Elements of a list value, with ``{}`` groups kept whole (braces included)."""
    items: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth < 0:
                raise TokenError(f'unbalanced "}}" in "{text}"')
        if depth == 0 and ch in separators:
            if cur:
                items.append("".join(cur))
                cur = []
            continue
        cur.append(ch)
    if depth:
        raise TokenError(f'missing "}}" in "{text}"')
    if cur:
        items.append("".join(cur))
    return items


def unbrace(item: str) -> str:
    """``{ text }`` → ``text`` (trimmed); anything else unchanged."""
    if item.startswith("{") and item.endswith("}"):
        return item[1:-1].strip()
    return item
