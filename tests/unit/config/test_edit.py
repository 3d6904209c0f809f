"""postconf -e / -X / -# on main.cf (expected texts produced by Postfix 3.7's postconf)."""

import os

import pytest

from mailrelay.config.edit import Mode, edit_main_cf, edit_text, parse_requests
from mailrelay.util.diagnostic import Fatal

PATH = "/etc/mailrelay/main.cf"
TEXT = ("# head\nmyhostname = a\n  b\n# mid comment\n  c\nmydomain = x\nrelayhost = r1\n"
        "# tail\nrelayhost = r2\n  r2b\n")


def edit(mode: Mode, *args: str, text: str = TEXT) -> tuple[str, list[str]]:
    edits = parse_requests(mode, list(args))
    return edit_text(text, PATH, edits), edits.warnings


def test_set_replaces_every_assignment_with_one_line_and_appends_new_names_sorted():
    new, warnings = edit(Mode.SET, "relayhost = [new]:587", "zeta=1", "  alpha =  2  ",
                         "myhostname=h")
    assert new == ("# head\nmyhostname = h\n# mid comment\nmydomain = x\nrelayhost = [new]:587\n"
                   "# tail\nrelayhost = [new]:587\nalpha = 2\nzeta = 1\n")
    assert warnings == [f'{PATH}: multiple entries for "relayhost"']


def test_remove_drops_assignments_with_their_continuation_lines():
    new, _ = edit(Mode.REMOVE, "mydomain", "zeta", "relayhost")
    assert new == "# head\nmyhostname = a\n  b\n# mid comment\n  c\n# tail\n"


def test_comment_out_prefixes_each_line_of_the_assignment():
    new, _ = edit(Mode.COMMENT, "relayhost", "myhostname")
    assert new == ("# head\n#myhostname = a\n#  b\n# mid comment\n#  c\nmydomain = x\n"
                   "#relayhost = r1\n# tail\n#relayhost = r2\n#  r2b\n")


def test_a_later_request_for_the_same_name_wins_with_a_warning():
    new, warnings = edit(Mode.SET, "a=1", "a=2", text="")
    assert new == "a = 2\n"
    assert warnings == ["ignoring earlier request: 'a = 1'"]


def test_an_empty_value_and_a_file_without_final_newline():
    new, _ = edit(Mode.SET, "x=", text="y = 1")
    assert new == "y = 1\nx = \n"


@pytest.mark.parametrize(
    ("mode", "arg", "message"),
    [
        (Mode.SET, "c=1\nd=2", "-e, -X, or -# accepts no multi-line input"),
        (Mode.SET, "  #c=1", "-e, -X, or -# accepts no comment input"),
        (Mode.SET, "x y = 1", 'missing \'=\' after attribute name: "x y = 1"'),
        (Mode.SET, "=1", 'missing attribute name: "=1"'),
        (Mode.REMOVE, "", "-X or -# requires non-blank parameter names"),
        (Mode.COMMENT, "a=1", "-X or -# requires parameter names without value"),
    ],
)
def test_bad_requests_are_postfixs_fatal_errors(mode, arg, message):
    with pytest.raises(Fatal) as caught:
        parse_requests(mode, [arg])
    assert str(caught.value) == message


def test_the_file_is_replaced_keeping_its_permissions(tmp_path):
    path = tmp_path / "main.cf"
    path.write_text("relayhost = old\n")
    path.chmod(0o640)
    edit_main_cf(str(path), parse_requests(Mode.SET, ["relayhost=new"]))
    assert path.read_text() == "relayhost = new\n"
    assert path.stat().st_mode & 0o777 == 0o640
    assert sorted(os.listdir(tmp_path)) == ["main.cf"]  # no temporary file left behind


def test_a_missing_main_cf_is_an_error(tmp_path):
    with pytest.raises(Fatal, match=r"main\.cf for reading: No such file or directory"):
        edit_main_cf(str(tmp_path / "main.cf"), parse_requests(Mode.SET, ["a=b"]))
