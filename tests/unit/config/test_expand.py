"""$name expansion as Postfix 3.7 does it.

Every expected value and message below was checked with real Postfix (``postconf -c DIR -x``
or ``-hx NAME`` on a main.cf holding the text), 3.7.11.  Where postconf shows a value with its
white space collapsed, the note says so: expansion itself keeps white space.
"""

import pytest

from mailrelay.config.expand import MAX_LEVEL, MacroError, expand, scan

VALUES = {"mydomain": "a.b", "empty": "", "indirect": "$empty", "myhostname": "relay.$mydomain"}


def x(text: str) -> str:
    return expand(text, VALUES.get)


def test_the_plain_forms():
    assert x("$mydomain|${mydomain}|$(mydomain)|${ mydomain }") == "a.b|a.b|a.b|a.b"
    assert x("$$|$$mydomain|a$$b") == "$|$mydomain|a$b"
    assert x("$myhostname") == "relay.a.b"  # values are expanded recursively
    assert x("x$nosuch.y") == "x.y"  # an undefined name expands to nothing


def test_a_name_is_ascii_letters_digits_and_underscores():
    assert x("$mydomain-x $mydomain.x") == "a.b-x a.b.x"


def test_text_inside_braces_keeps_its_white_space():
    # postconf -x prints "sp |": it collapses white space when it prints, nothing more.
    assert x("${mydomain?{ sp }}|") == " sp |"
    assert x("${mydomain?{ sp  two }:{ no }}|") == " sp  two |"
    assert x("${nosuch?{ sp }:{  no  x }}|") == "  no  x |"


def test_text_without_braces_runs_to_the_end_as_written():
    assert x("${mydomain?  yes  }|") == "  yes  |"
    assert x("${nosuch:  no  }|") == "  no  |"
    assert x("${mydomain?a:b}") == "a:b"  # Postfix 2.x: the whole rest, colon included
    assert x("${nosuch?a:b}") == ""


def test_white_space_around_names_operators_and_braces_is_ignored():
    assert x("${ mydomain ? {yes} : {no} }") == "yes"
    assert x("${ nosuch ? {yes} : {no} }") == "no"


def test_the_condition_looks_at_the_value_as_written():
    assert x("${indirect?set}") == "set"  # "$empty" is not empty, whatever it expands to
    assert x("${empty?set}|${empty:unset}") == "|unset"


def test_the_chosen_text_is_expanded():
    assert x("${mydomain?{$myhostname}:{$nosuch}}") == "relay.a.b"


@pytest.mark.parametrize(
    ("text", "warning"),
    [
        ("a$", 'empty macro name: "a$"'),
        ("a$-b", 'empty macro name: "a$-b"'),
        ("x${}", 'empty macro name: "x${}"'),
        ("a${mydomain", 'truncated macro reference: "a${mydomain"'),
        ("${a?{b}", 'truncated macro reference: "${a?{b}"'),
        ("a${my-domain}", 'attribute name syntax error at: "...my>>>-domain"'),
        ("${ my domain }", 'attribute name syntax error at: "... my>>> domain "'),
        ("${mydomain?{x}junk}", '":" expected at: "...x}>>>junk"'),
        ("${mydomain?{a}{b}}", '":" expected at: "...a}>>>{b}"'),
        ("${mydomain?{b}:{c}x}", 'unexpected input at: "...c}>>>x"'),
        ("${mydomain?{a}:{b}:{c}}", 'unexpected input at: "...b}>>>:{c}"'),
        ("${{a} =x {b}?{y}}",
         '"==" or "!="" or "<"" or "<="" or ">="" or ">" expected at: "...a}>>>=x {b}?{y}"'),
        ("${{a} <lvl {b}?{y}}", 'bad operator suffix at: "...<>>>lvl"'),
        ("${{a} == b}", '"{expression}" expected at: "...{a} ==>>> b"'),
        ("${{a} == {a} x}", '"?" or ":" expected at: "...}>>>x"'),
    ],
)
def test_syntax_errors_carry_postfixs_warning(text, warning):
    with pytest.raises(MacroError) as caught:
        x(text)
    assert caught.value.text == warning


def test_a_loop_stops_at_postfixs_nesting_limit():
    loop = {"a": "$b", "b": "$a"}
    with pytest.raises(MacroError, match="unreasonable macro call nesting"):
        expand("$a", loop.get)


def _chain(length: int) -> dict[str, str]:
    values = {f"p{i}": f"$p{i + 1}" for i in range(1, length + 1)}
    values[f"p{length + 1}"] = "end"
    return values


def test_the_nesting_limit_counts_as_postfix_does():
    # postconf: a chain of 99 references expands; with 100 the final literal is one too deep
    # ("unreasonable macro call nesting: "end""); with 101, the 102nd name is.
    assert expand("$p1", _chain(MAX_LEVEL - 1).get) == "end"
    with pytest.raises(MacroError, match='nesting: "end"'):
        expand("$p1", _chain(MAX_LEVEL).get)
    with pytest.raises(MacroError, match='nesting: "p102"'):
        expand("$p1", _chain(MAX_LEVEL + 1).get)


def test_scan_lists_every_reference_of_every_branch_without_looking_up():
    found = scan("${a?{$b}:{$c}} $d ${{$e} == {x}?{$f}} $(g) $$h")
    assert found.names == ("a", "b", "c", "d", "e", "f", "g")
    assert found.error is None


def test_scan_keeps_the_names_before_a_syntax_error():
    found = scan("$a $b x$")
    assert found.names == ("a", "b")
    assert found.error == 'empty macro name: "$a $b x$"'
