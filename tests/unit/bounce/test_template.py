"""bounce(5) templates: the built-in ones, the file format, the $name expansion.

References: ``postconf -t`` and ``postconf -b [FILE]`` of Postfix 3.7 (tests/golden/bounce,
README.md), for the oracle's main.cf plus delay_warning_time = 90m and
maximal_queue_lifetime = 13d.
"""

from __future__ import annotations

import re

import pytest
from bounce_support import GOLDEN

from mailrelay.bounce.settings import BounceSettings
from mailrelay.bounce.template import BUILTIN, KINDS, Template, parse_templates
from mailrelay.config.maincf import parse_main_cf
from mailrelay.config.model import Config
from mailrelay.util.diagnostic import Fatal

TEMPLATE_FILE = "/tmp/oracle-h3-tpl/bounce.cf"  # the path postconf -b was given


def settings(extra: str = "", template: str | None = None) -> BounceSettings:
    text = (GOLDEN / "main.cf").read_text()
    text += "delay_warning_time = 90m\nmaximal_queue_lifetime = 13d\n" + extra
    if template is not None:
        text += f"bounce_template_file = {TEMPLATE_FILE}\n"
    return BounceSettings.from_config(Config(parse_main_cf(text, "main.cf"), "/etc/x"), template)


def postconf_texts(name: str) -> dict[str, list[str]]:
    """``expanded_KIND_text`` (postconf -b) or ``KIND_template`` (-t) blocks of a reference."""
    blocks = re.findall(r"^(\w+) = <<EOF\n(.*?)^EOF$", (GOLDEN / name).read_text(), re.M | re.S)
    return {key: body.splitlines() for key, body in blocks}


def as_postconf_t(template: Template) -> list[str]:
    head = [f"Charset: {template.charset}", f"From: {template.sender}",
            f"Subject: {template.subject}"]
    if template.postmaster_subject:
        head.append(f"Postmaster-Subject: {template.postmaster_subject}")
    return [*head, "", *template.text]


def test_the_builtin_templates_are_postfixs_word_for_word() -> None:
    reference = postconf_texts("postconf-t.ref")
    assert {k: as_postconf_t(BUILTIN.of(k)) for k in KINDS} == {
        k: reference[f"{k}_template"] for k in KINDS}


def test_builtin_text_expands_as_postconf_b_shows_it() -> None:
    reference = postconf_texts("postconf-b.ref")
    expanded = settings().templates
    assert {k: list(expanded.of(k).text) for k in KINDS} == {
        k: reference[f"expanded_{k}_text"] for k in KINDS}
    assert expanded.warnings == ()


def test_a_template_file_expands_as_postconf_b_shows_it() -> None:
    reference = postconf_texts("postconf-b-file.ref")
    expanded = settings(template=(GOLDEN / "bounce.cf").read_text()).templates
    assert {k: list(expanded.of(k).text) for k in KINDS} == {
        k: reference[f"expanded_{k}_text"] for k in KINDS}
    stderr = (GOLDEN / "postconf-b-file.stderr.ref").read_text().splitlines()
    assert [f"postfix/bounce: warning: {w}" for w in expanded.warnings] == stderr


def test_template_headers_are_read_in_any_case_and_never_expanded() -> None:
    failure = parse_templates((GOLDEN / "bounce.cf").read_text(), "bounce.cf").failure
    assert (failure.charset, failure.sender, failure.subject, failure.postmaster_subject) == (
        "utf-8", "Postmaster of $myhostname <postmaster>", "Nicht zustellbar: returned mail",
        "PM copy: returned mail")


def test_headers_a_template_leaves_out_keep_their_builtin_values() -> None:
    delay = parse_templates((GOLDEN / "bounce.cf").read_text(), "bounce.cf").delay
    assert delay.subject == "Still trying"
    assert (delay.sender, delay.postmaster_subject) == (
        BUILTIN.delay.sender, BUILTIN.delay.postmaster_subject)


def test_blank_lines_between_headers_and_text_are_skipped_but_trailing_ones_kept() -> None:
    parsed = parse_templates("delay_template = <<EOF\nSubject: x\n\n\nhi there\n\n\nEOF\n", "f")
    assert parsed.delay.text == ("hi there", "", "")


def test_a_template_without_headers_is_all_text() -> None:
    parsed = parse_templates("failure_template=<<END\nhi $myhostname\nsecond\nEND\n", "f")
    assert parsed.failure.text == ("hi $myhostname", "second")
    assert parsed.failure.subject == BUILTIN.failure.subject


def test_an_unknown_header_label_makes_postfix_ignore_the_template() -> None:
    parsed = parse_templates("delay_template = <<EOF\nFoo: x\n\nhi\nEOF\n", "b4.cf")
    assert parsed.delay == BUILTIN.delay
    assert parsed.warnings == (
        'b4.cf: unknown "Foo" header label in delay template -- ignoring this template',)


def test_eight_bit_text_under_us_ascii_makes_postfix_ignore_the_template() -> None:
    parsed = parse_templates("delay_template = <<EOF\nGrüße\nEOF\n", "b4.cf")
    assert parsed.delay == BUILTIN.delay
    assert parsed.warnings == ("b4.cf: 8-bit message text in delay template",
                               "-- ignoring this template for now")


def test_unknown_template_names_and_missing_end_markers_are_warnings() -> None:
    # Postfix's line numbers are one past the last line read.
    parsed = parse_templates("x = <<EOF\nhi\nEOF\nfailure_template = <<EOF\nhi\n EOF\n", "b.cf")
    assert parsed.warnings == ("b.cf, line 4: unknown template name: x -- ignoring this template",
                               'b.cf, line 7: missing "EOF" end marker')
    assert parsed.failure == BUILTIN.failure


def test_an_end_marker_must_end_with_a_newline() -> None:
    parsed = parse_templates("failure_template = <<EOF\nx\nEOF", "t2.cf")
    assert parsed.warnings == ('t2.cf, line 4: missing "EOF" end marker',)


def test_a_plain_assignment_is_a_one_line_template() -> None:
    assert parse_templates("  failure_template = hello there\n", "t").failure.text == (
        "hello there",)


def test_a_line_without_equals_sign_is_fatal_with_its_line_number() -> None:
    with pytest.raises(Fatal, match=r"""^b5.cf, line 3: missing '=' after attribute name: "hi"$"""):
        parse_templates("# comment\n\nhi\n", "b5.cf")


def test_an_undefined_plain_name_is_fatal_but_a_conditional_one_is_empty() -> None:
    text = "failure_template = <<EOF\na ${myhostname?yes} ${nosuch?x} ${mail_name:no}\nEOF\n"
    assert settings(template=text).templates.failure.text == ("a yes  ",)
    with pytest.raises(Fatal, match=r"undefined \$name in failure template: \$nosuch"):
        settings(template="failure_template = <<EOF\n$nosuch\nEOF\n")


def test_time_suffixes_round_down_and_unknown_suffixes_are_fatal() -> None:
    text = ("delay_template = <<EOF\n${delay_warning_time_hours} $(maximal_queue_lifetime_weeks)"
            " $delay_warning_time_minutes\nEOF\n")
    assert settings(template=text).templates.delay.text == ("1 1 90",)
    with pytest.raises(Fatal, match='unrecognized suffix "fortnights"'):
        settings(template="delay_template = <<EOF\n$delay_warning_time_fortnights\nEOF\n")


def test_a_zero_result_earns_postfixs_warning() -> None:
    expanded = settings("delay_warning_time = 1s\n").templates
    assert expanded.delay.text[6] == (
        "Your message could not be delivered for more than 0 hour(s).")
    assert expanded.warnings == (
        '[built-in]: zero result in delay template conversion of parameter '
        '"delay_warning_time_hours"',
        'please reduce time unit "hours" of "delay_warning_time_hours" in delay template',
        "for instructions see the bounce(5) manual")


def test_host_names_are_shown_in_utf8_when_smtputf8_is_on() -> None:
    text = "failure_template = <<EOF\n$myhostname $mydomain\nEOF\n"
    ace = "myhostname = xn--bcher-kva.example\nmydomain = example\n"
    assert settings(ace, text).templates.failure.text == ("bücher.example example",)
    off = settings(ace + "smtputf8_enable = no\n", text).templates
    assert off.failure.text == ("xn--bcher-kva.example example",)
