"""header_checks, body_checks and their smtp_* twins: rules whose action Postfix would not run.

A broken regexp or a bad ``$n`` is already reported by the table itself when ``check`` opens
it (the table's open-time warnings, "regexp map FILE, line N: ... skipping this rule").  What
the table cannot know is that its results are actions: a rule whose action word is unknown
does nothing at run time but log "unknown command in header_checks map" (the line is kept),
and the smtp client runs only the actions that do not change the delivery (DUNNO, IGNORE,
INFO, OK, PREPEND, REPLACE, STRIP, WARN), logging "unsupported command" for the others
(PASS included: cleanup only).  Both are
reported here with the table's file and line (or key, for an indexed table).
"""

from __future__ import annotations

from collections.abc import Iterator

from mailrelay.audit.finding import Finding, warning
from mailrelay.cleanup.header_checks import OUTPUT_ACTIONS, Action
from mailrelay.maps.base import MapError, Table
from mailrelay.maps.pattern_table import MatchRule, PatternTable
from mailrelay.util.diagnostic import Origin

#: The parameters whose tables hold header_checks(5) actions, cleanup's first.
INPUT_CHECKS = ("header_checks", "mime_header_checks", "nested_header_checks", "body_checks")
OUTPUT_CHECKS = ("smtp_header_checks", "smtp_mime_header_checks",
                 "smtp_nested_header_checks", "smtp_body_checks")
CHECKS_PARAMETERS = INPUT_CHECKS + OUTPUT_CHECKS
#: header_checks(5) actions of Postfix 3.7 that cleanup does not run yet (none: PASS, the
#: last one, is run since the MIME walker).
NOT_IMPLEMENTED: frozenset[str] = frozenset()


def action_word(result: str) -> str:
    """The first word of a rule's result: the action."""
    words = result.split(maxsplit=1)
    return words[0] if words else ""


def _pattern_result(rule: MatchRule) -> str | None:
    """The literal start of *rule*'s result that holds the whole action word; None when a
    ``$n`` supplies (part of) the action at match time."""
    first = rule.segments[0] if rule.segments else ""
    if not isinstance(first, str):
        return None
    if len(rule.segments) > 1 and len(first.split(maxsplit=1)) < 2 and not first[-1:].isspace():
        return None  # ``RE$1``: the word goes on with what the pattern captured
    return first


def _results(table: Table) -> Iterator[tuple[str, str | None]]:
    """(where, the result's literal start or None) for each rule of *table*."""
    if isinstance(table, PatternTable):
        for rule in table.rules:
            if isinstance(rule, MatchRule):
                yield f"line {rule.line}", _pattern_result(rule)
        return
    try:
        for key, value in table.items():
            yield f"key {key}", value
    except MapError:
        return  # a table that cannot list itself (e.g. cidr:) is checked when used


def _verdict(parameter: str, word: str) -> str | None:
    """Why *word* does not work as an action in *parameter*'s table; None when it does."""
    action = Action.__members__.get(word.upper())
    if action is None and word.upper() in NOT_IMPLEMENTED:
        return (f'action "{word}" (Postfix 3.2 and later) is not implemented by mailrelay: '
                f'the rule only logs "unknown command in {parameter} map" and the line is kept')
    if action is None or action is Action.UNKNOWN:
        return (f'unknown action "{word}": the rule only logs "unknown command in '
                f'{parameter} map" and the line is kept')
    if parameter in OUTPUT_CHECKS and action not in OUTPUT_ACTIONS:
        return (f'action "{word}" is not supported by the smtp client: the rule only logs '
                f'"unsupported command in {parameter} map" and the line is kept')
    return None


def action_findings(parameter: str, table: Table, origin: Origin) -> list[Finding]:
    """One warning per rule of *table* (used as *parameter*) whose action would not run."""
    findings: list[Finding] = []
    for where, result in _results(table):
        word = action_word(result or "")
        if not word:
            continue  # the action comes from the key, or the table warned (no result)
        problem = _verdict(parameter, word)
        if problem is not None:
            findings.append(warning(
                f"{parameter}: {table.type} map {table.name}, {where}: {problem}",
                origin, parameter))
    return findings
