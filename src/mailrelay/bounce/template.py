"""bounce(5) templates: Postfix's built-in ones, the template file, and their ``$name`` text.

Theory of operation.  A notification is made of a template (its ``Charset:``, ``From:``,
``Subject:`` and ``Postmaster-Subject:`` headers and its message text) plus the per-recipient
text that bounce(8) appends.  The four built-in templates are Postfix 3.7's, word for word
(``postconf -t`` prints them).  A ``bounce_template_file`` may replace any of them; the
caller (an I/O layer) reads the file and passes its text to `parse_templates`, which keeps
Postfix's rules, checked with ``postconf -b FILE``:

* ``NAME = <<WORD`` starts a template (``failure_template``, ``delay_template``,
  ``success_template``, ``verify_template``) and a line that is exactly ``WORD`` ends it;
  ``NAME = text`` is a one-line template.  Outside templates, blank lines and ``#`` lines
  are ignored; a line without ``=`` is fatal.
* A template begins with header lines (``Label: value``, any case); the first line that is
  not one starts the text, after blank lines are skipped.  An unknown label, or 8-bit text
  under ``Charset: us-ascii``, makes Postfix ignore that template with a warning: the
  built-in one stays.  Headers that a template leaves out keep their built-in values.
* The text is expanded line by line (`expand_text`): ``$name``, ``${name}``, ``$(name)``,
  ``$$`` and the conditional forms of main.cf, where ``name`` is any main.cf parameter or
  ``delay_warning_time_UNIT`` / ``maximal_queue_lifetime_UNIT`` with UNIT one of seconds,
  minutes, hours, days, weeks (rounded down; a result of 0, or of 1000 or more, earns
  Postfix's warning).  An unknown plain ``$name`` is fatal; headers are never expanded.

Warnings are returned as texts (without the ``postfix/bounce: warning:`` prefix) for the
caller to log.  This module is pure.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from mailrelay.config.expand import expand
from mailrelay.util.diagnostic import Fatal, Origin

KINDS = ("failure", "delay", "success", "verify")

_HEAD = ("Charset: us-ascii", "From: Mail Delivery System <MAILER-DAEMON>")
_SIGNATURE = ("", "                   The mail system")
_ASSISTANCE = (
    "",
    "For further assistance, please send mail to postmaster.",
    "",
    "If you do so, please include this problem report. You can",
    "delete your own text from the attached returned message.",
)


@dataclass(frozen=True, slots=True)
class Template:
    kind: str
    charset: str
    #: The From: header as written: cleanup would qualify its address (see notice.py).
    sender: str
    subject: str
    postmaster_subject: str
    #: The message text, one string per line (expanded once settings are made).
    text: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Templates:
    failure: Template
    delay: Template
    success: Template
    verify: Template
    #: Postfix's warnings about the template file, for the caller to log.
    warnings: tuple[str, ...] = ()

    def of(self, kind: str) -> Template:
        template: Template = getattr(self, kind)
        return template


def _builtin(kind: str, subject: str, postmaster_subject: str, *text: str) -> Template:
    return Template(kind, "us-ascii", "Mail Delivery System <MAILER-DAEMON>", subject,
                    postmaster_subject, ("This is the mail system at host $myhostname.", "",
                                         *text, *_SIGNATURE))


BUILTIN = Templates(
    failure=_builtin(
        "failure", "Undelivered Mail Returned to Sender", "Postmaster Copy: Undelivered Mail",
        "I'm sorry to have to inform you that your message could not",
        "be delivered to one or more recipients. It's attached below.", *_ASSISTANCE),
    delay=_builtin(
        "delay", "Delayed Mail (still being retried)", "Postmaster Warning: Delayed Mail",
        "#" * 68,
        "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #",
        "#" * 68, "",
        "Your message could not be delivered for more than $delay_warning_time_hours hour(s).",
        "It will be retried until it is $maximal_queue_lifetime_days day(s) old.",
        *_ASSISTANCE),
    success=_builtin(
        "success", "Successful Mail Delivery Report", "",
        "Your message was successfully delivered to the destination(s)",
        "listed below. If the message was delivered to mailbox you will",
        "receive no further notifications. Otherwise you may still receive",
        "notifications of mail delivery errors from other systems."),
    verify=_builtin(
        "verify", "Mail Delivery Status Report", "",
        "Enclosed is the mail delivery report that you requested."),
)

#: Template header labels (lower case) -> Template field.
_LABELS = {"charset": "charset", "from": "sender", "subject": "subject",
           "postmaster-subject": "postmaster_subject"}
_START = re.compile(r"([^\s=]+)\s*=\s*<<(\S+)\s*$")
_HEADER = re.compile(r"([\x21-\x39\x3b-\x7e]+)[ \t]*:[ \t]*(.*)$")

# ---------------------------------------------------------------- the template file


def parse_templates(text: str, file: str) -> Templates:
    """The templates of a bounce_template_file's *text* over the built-in ones (unexpanded)."""
    found: dict[str, Template] = {}
    warnings: list[str] = []
    lines = text.split("\n")
    # Postfix sees an end marker only on a line that ends with a newline.
    complete = len(lines) - 1
    if lines[-1] == "":
        lines.pop()
    i = 0
    while i < len(lines):
        line = lines[i].rstrip("\r").strip()
        i += 1
        if not line or line.startswith("#"):
            continue
        name, equals, value = (part.strip() for part in line.partition("="))
        if not equals or not name:
            raise Fatal(f"missing '=' after attribute name: \"{line}\"", Origin(file, i))
        body = [value]
        if value.startswith("<<"):
            word = value[2:].strip()
            body, i, closed = _heredoc(lines, i, word, complete)
            if not closed:  # Postfix counts lines as read, one past the last
                warnings.append(f"{file}, line {i + 1}: missing \"{word}\" end marker")
                continue
        kind = name.removesuffix("_template")
        if not name.endswith("_template") or kind not in KINDS:
            warnings.append(f"{file}, line {i + 1}: unknown template name: {name}"
                            " -- ignoring this template")
            continue
        template = _template(BUILTIN.of(kind), body, file, warnings)
        if template is not None:
            found[kind] = template
    merged = {kind: found.get(kind, BUILTIN.of(kind)) for kind in KINDS}
    return Templates(**merged, warnings=tuple(warnings))


def _heredoc(lines: list[str], i: int, word: str,
             complete: int) -> tuple[list[str], int, bool]:
    """The lines up to the end marker, the index after it, and whether there was one."""
    body: list[str] = []
    while i < len(lines):
        line = lines[i].rstrip("\r")
        i += 1
        if line == word and i <= complete:
            return body, i, True
        body.append(line)
    return body, i, False


def _template(base: Template, body: list[str], file: str, warnings: list[str]) -> Template | None:
    """One template over its built-in *base*, or None (with a warning) if Postfix ignores it."""
    fields: dict[str, str] = {}
    i = 0
    while i < len(body) and (header := _HEADER.match(body[i])) is not None:
        label, value = header.groups()
        if label.lower() not in _LABELS:
            warnings.append(f"{file}: unknown \"{label}\" header label in {base.kind}"
                            " template -- ignoring this template")
            return None
        fields[_LABELS[label.lower()]] = value.rstrip()
        i += 1
    while i < len(body) and not body[i].strip():
        i += 1
    template = replace(base, **fields, text=tuple(body[i:]))
    if template.charset.lower() == "us-ascii" and not all(s.isascii() for s in template.text):
        warnings.append(f"{file}: 8-bit message text in {base.kind} template")
        warnings.append("-- ignoring this template for now")
        return None
    return template


# ---------------------------------------------------------------- $name expansion

#: The parameters that may carry a time-unit suffix, and the units in seconds.
TIME_PARAMETERS = ("delay_warning_time", "maximal_queue_lifetime")
UNITS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400, "weeks": 604800}
_PLAIN = re.compile(r"\$(?:([A-Za-z0-9_]+)|\{\s*([A-Za-z0-9_]+)\s*\}|\(\s*([A-Za-z0-9_]+)\s*\))")

#: name -> value (already expanded) or None when main.cf has no such parameter.
Lookup = Callable[[str], "str | None"]


@dataclass(frozen=True, slots=True)
class Expansion:
    """What template text may refer to: main.cf values and the two time parameters."""

    lookup: Lookup
    #: delay_warning_time and maximal_queue_lifetime, in seconds.
    times: Mapping[str, int]
    file: str = "[built-in]"


def expand_text(template: Template, expansion: Expansion, warnings: list[str]) -> Template:
    """*template* with its text lines expanded (headers are left as written)."""
    seen: set[str] = set()

    def lookup(name: str) -> str | None:
        value = _value(name, template.kind, expansion, seen, warnings)
        return None if value is None else value.replace("$", "$$")

    lines = []
    for line in template.text:
        for match in _PLAIN.finditer(line.replace("$$", "")):
            name = next(g for g in match.groups() if g)
            if lookup(name) is None:
                raise Fatal(f"undefined $name in {template.kind} template: {line}",
                            Origin(expansion.file))
        try:
            lines.append(expand(line, lookup))
        except Fatal as e:
            raise Fatal(f"{template.kind} template: {e.text}", Origin(expansion.file)) from None
    return replace(template, text=tuple(lines))


def _value(name: str, kind: str, expansion: Expansion, seen: set[str],
           warnings: list[str]) -> str | None:
    for parameter in TIME_PARAMETERS:
        if not name.startswith(parameter + "_"):
            continue
        suffix = name.removeprefix(parameter + "_")
        if suffix not in UNITS:
            raise Fatal(f"unrecognized suffix \"{suffix}\" in parameter \"{name}\"",
                        Origin(expansion.file))
        value = expansion.times[parameter] // UNITS[suffix]
        if (value == 0 or value >= _EXCESSIVE) and name not in seen:
            seen.add(name)
            warnings += _unit_warnings(expansion.file, kind, name, suffix, value)
        return str(value)
    return expansion.lookup(name)


#: Postfix calls a converted time of 1000 units or more "excessive" (and 0 a "zero result").
_EXCESSIVE = 1000


def _unit_warnings(file: str, kind: str, name: str, suffix: str, value: int) -> list[str]:
    result, advice = ("zero result", "reduce") if value == 0 else (
        f'excessive result "{value}"', "increase")
    return [f'{file}: {result} in {kind} template conversion of parameter "{name}"',
            f'please {advice} time unit "{suffix}" of "{name}" in {kind} template',
            "for instructions see the bounce(5) manual"]
