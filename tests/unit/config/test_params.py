"""The parameter table against real Postfix 3.7.11.

The oracle is ``tests/golden/postconf/postconf-d.ref``, real Postfix's ``postconf -d`` captured
as-is (see the README beside it).  Every default in the table must be Postfix's text, except:

- ``DELIBERATE_DIFFERENCES`` below, each with its reason; the test pins our value too.
- The computed defaults (``myhostname``, ``mydomain``, ``mynetworks``): their text depends on
  the machine, so their *logic* is tested instead, on the inputs of the machine the reference
  was captured on (its node name and its /proc/net files, reproduced below), and, where real
  Postfix is installed, against live ``postconf`` on this machine.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from mailrelay import __version__
from mailrelay.config import params
from mailrelay.config.expand import expand
from mailrelay.config.params import _TABLE, LEGACY_NAMES, PARAMETERS, Kind, Param
from mailrelay.util.units import TIME_UNITS, parse_bool, parse_int, parse_time

ROOT = Path(__file__).resolve().parents[3]
REF = ROOT / "tests" / "golden" / "postconf" / "postconf-d.ref"
GUIDE = ROOT.parent / "shared" / "reference" / "postfix-relay-guide.fr.txt"
SPEC = ROOT.parent / "shared" / "SPEC.md"

#: Where mailrelay's default is not Postfix's on purpose: name -> (our default, reason).
DELIBERATE_DIFFERENCES: dict[str, tuple[str, str]] = {
    "mail_version": (__version__, "mailrelay reports its own version, not Postfix's release."),
    "smtpd_forbid_bare_newline": (
        "normalize",
        "SPEC 3.1: only <CR><LF>.<CR><LF> ends DATA (no SMTP smuggling); Postfix 3.7 says no.",
    ),
    "smtpd_forbid_bare_newline_exclusions": (
        "",
        "SPEC 3.1: no client, not even $mynetworks, is exempt from the smuggling defence.",
    ),
    "smtpd_forbid_unauth_pipelining": (
        "yes",
        "SPEC 3.1: clients that pipeline before they may are disconnected; Postfix 3.7 says no.",
    ),
}

#: Defaults that Postfix computes at run time, tested by logic rather than text.
COMPUTED = {"myhostname", "mydomain", "mynetworks"}

#: The reference machine: its node name and /proc/net files when postconf-d.ref was captured.
REF_NODENAME = "vm"
REF_FIB_TRIE = """\
Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 192.0.2.0/24 2 0 2
        +-- 192.0.2.0/30 2 0 2
           |-- 192.0.2.0
              /24 link UNICAST
           |-- 192.0.2.2
              /32 host LOCAL
        |-- 192.0.2.255
           /32 link BROADCAST
Local:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 192.0.2.0/24 2 0 2
        +-- 192.0.2.0/30 2 0 2
           |-- 192.0.2.0
              /24 link UNICAST
           |-- 192.0.2.2
              /32 host LOCAL
        |-- 192.0.2.255
           /32 link BROADCAST
"""
REF_IF_INET6 = """\
00000000000000000000000000000001 01 80 10 80       lo
fe8000000000000000fc00fffe000001 04 40 20 80     eth0
fd000000000000000000000000000002 04 40 00 82     eth0
"""


def _read_ref() -> dict[str, str]:
    values = {}
    for line in REF.read_text().splitlines():
        name, _, value = line.partition(" =")
        values[name] = value[1:] if value.startswith(" ") else value
    return values


POSTFIX = _read_ref()
POSTFIX_PARAMS = [p for p in _TABLE if not p.mailrelay_only]


def _default_text(name: str) -> str | None:
    p = PARAMETERS.get(name)
    if p is None:
        return None
    return p.compute() if p.compute is not None else p.default


def _expanded_default(p: Param) -> str:
    text = _default_text(p.name) or ""
    return text if p.raw else expand(text, _default_text)


@pytest.fixture
def reference_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the compute functions see the machine postconf-d.ref was captured on."""
    real_uname = os.uname()
    fake = os.uname_result((real_uname.sysname, REF_NODENAME, *real_uname[2:]))
    monkeypatch.setattr(params.os, "uname", lambda: fake)
    files = {params._PROC_FIB_TRIE: REF_FIB_TRIE, params._PROC_IF_INET6: REF_IF_INET6}
    monkeypatch.setattr(params, "_read", lambda path: files[path])


# -- the table itself -------------------------------------------------------------------------


def test_the_reference_is_the_complete_postconf_d_output() -> None:
    assert len(POSTFIX) == 1043
    assert POSTFIX["mail_version"] == "3.7.11"


def test_no_parameter_is_declared_twice() -> None:
    names = [p.name for p in _TABLE]
    assert sorted(n for n in set(names) if names.count(n) > 1) == []
    assert len(PARAMETERS) == len(_TABLE)


def test_the_table_knows_at_least_two_hundred_parameters() -> None:
    assert len(PARAMETERS) >= 200


def test_every_postfix_parameter_in_the_table_exists_in_postfix() -> None:
    assert [p.name for p in POSTFIX_PARAMS if p.name not in POSTFIX] == []


@pytest.mark.parametrize(
    "param",
    [p for p in POSTFIX_PARAMS if p.name not in COMPUTED and p.name not in DELIBERATE_DIFFERENCES],
    ids=lambda p: p.name,
)
def test_the_default_is_the_text_postconf_d_prints(param: Param) -> None:
    assert param.compute is None
    assert param.default == POSTFIX[param.name]


@pytest.mark.parametrize("name", sorted(DELIBERATE_DIFFERENCES))
def test_a_deliberate_difference_is_real_and_pinned(name: str) -> None:
    ours, reason = DELIBERATE_DIFFERENCES[name]
    assert reason
    assert PARAMETERS[name].default == ours
    assert POSTFIX[name] != ours


def test_only_machine_dependent_defaults_are_computed() -> None:
    assert {p.name for p in _TABLE if p.compute is not None} == COMPUTED


def test_every_doc_is_one_short_sentence() -> None:
    bad = [p.name for p in _TABLE if not p.doc.endswith(".") or "\n" in p.doc or len(p.doc) > 90]
    assert bad == []


def test_the_raw_parameters_are_postfix_s_config_raw_table_ones() -> None:
    """Postfix reads these without $name expansion (its CONFIG_RAW_TABLE entries)."""
    raw = {p.name for p in _TABLE if p.raw}
    assert raw == {"default_rbl_reply", "smtpd_expansion_filter", "smtpd_reject_footer"}


def test_obsolete_names_that_defaults_refer_to_are_not_postfix_parameters_of_their_own() -> None:
    assert not LEGACY_NAMES & set(PARAMETERS)
    assert not LEGACY_NAMES & set(POSTFIX)


def test_every_name_a_default_refers_to_is_in_the_table() -> None:
    # Raw parameters are templates: default_rbl_reply's $rbl_code is filled in per reply.
    missing = {
        (ref, p.name)
        for p in _TABLE
        if not p.raw
        for ref in re.findall(r"\$[{(]?([A-Za-z0-9_]+)", p.default)
        if ref not in PARAMETERS and ref not in LEGACY_NAMES
    }
    assert missing == set()


# -- kinds, units and bounds ------------------------------------------------------------------


@pytest.mark.parametrize("param", [p for p in _TABLE if p.kind is Kind.TIME], ids=lambda p: p.name)
def test_a_time_default_parses_in_its_unit(param: Param) -> None:
    assert param.unit in TIME_UNITS
    parse_time(_expanded_default(param), param.unit)


@pytest.mark.parametrize(
    "param", [p for p in _TABLE if p.kind in (Kind.INT, Kind.SIZE)], ids=lambda p: p.name
)
def test_a_numeric_default_parses(param: Param) -> None:
    parse_int(_expanded_default(param))


@pytest.mark.parametrize("param", [p for p in _TABLE if p.kind is Kind.BOOL], ids=lambda p: p.name)
def test_a_boolean_default_is_yes_or_no(param: Param) -> None:
    parse_bool(_expanded_default(param))


def test_postfix_yes_no_defaults_are_booleans() -> None:
    # smtpd_forbid_bare_newline takes normalize and reject too: a string.
    not_bool = [
        p.name
        for p in POSTFIX_PARAMS
        if POSTFIX[p.name] in ("yes", "no") and p.kind is not Kind.BOOL
    ]
    assert not_bool == ["smtpd_forbid_bare_newline"]


def test_units_follow_postconf_5() -> None:
    """postconf(5): "The default time unit is d (days)" for these, h for one, s otherwise."""
    units = {p.name: p.unit for p in _TABLE if p.kind is Kind.TIME and p.unit != "s"}
    assert units == {
        "maximal_queue_lifetime": "d",
        "bounce_queue_lifetime": "d",
        "delay_warning_time": "h",
        "smtp_sasl_auth_cache_time": "d",
    }


def test_bounds_are_postfix_s() -> None:
    """Spot checks of the limits Postfix enforces (its "invalid ... parameter value" errors)."""
    assert PARAMETERS["line_length_limit"].minimum == 512
    assert PARAMETERS["smtpd_recipient_limit"].minimum == 1
    assert PARAMETERS["maximal_queue_lifetime"].maximum == 100 * 86400
    assert PARAMETERS["bounce_queue_lifetime"].maximum == 100 * 86400
    assert PARAMETERS["delay_logging_resolution_limit"].maximum == 6
    assert (PARAMETERS["smtpd_forbid_bare_newline_reject_code"].minimum,
            PARAMETERS["smtpd_forbid_bare_newline_reject_code"].maximum) == (500, 599)


@pytest.mark.parametrize(
    "param", [p for p in _TABLE if p.minimum is not None or p.maximum is not None],
    ids=lambda p: p.name,
)
def test_a_default_is_within_its_bounds(param: Param) -> None:
    assert param.kind in (Kind.INT, Kind.SIZE, Kind.TIME)
    text = _expanded_default(param)
    value = parse_time(text, param.unit) if param.kind is Kind.TIME else parse_int(text)
    assert param.minimum is None or value >= param.minimum
    assert param.maximum is None or value <= param.maximum


# -- what the guide and the spec use ----------------------------------------------------------

_PARAM_LINE = re.compile(r"^([a-z0-9_]+) =(?: |$)")


def guide_main_cf_parameters(text: str) -> set[str]:
    """Parameter names assigned in the guide's main.cf snippets.

    A snippet starts at a line naming /etc/postfix/main.cf and ends at the first line that is
    neither a comment, a ``name = value`` line, nor the continuation of a value (the guide lost
    the leading white space of continuation lines; they follow an empty value or a comma), or at
    a comment naming another file.  This keeps out php.ini, Python and shell lines.
    """
    names: set[str] = set()
    inside = continued = False
    for raw in text.splitlines():
        line = raw.strip()
        if "/etc/postfix/main.cf" in line:
            inside = continued = True
            continue
        if not inside:
            continue
        if line.startswith("#"):
            if re.match(r"#\s*/etc/", line):
                inside = False
            continue
        m = _PARAM_LINE.match(line)
        if m:
            names.add(m.group(1))
            continued = line.endswith("=") or line.endswith(",")
        elif continued:
            continued = line.endswith(",")
        else:
            inside = False
    return names


def test_the_guide_extraction_takes_only_main_cf_lines() -> None:
    found = guide_main_cf_parameters(GUIDE.read_text())
    assert {"relayhost", "smtp_sasl_password_maps", "smtpd_recipient_restrictions",
            "smtp_generic_maps", "debug_peer_level", "smtpd_tls_received_header"} <= found
    assert not {"server", "sendmail_path", "MAILTO", "defaults", "state"} & found
    assert len(found) >= 40


def test_every_parameter_of_the_guide_is_in_the_table() -> None:
    found = guide_main_cf_parameters(GUIDE.read_text())
    assert sorted(found - set(PARAMETERS)) == []


def test_every_postfix_parameter_named_in_the_spec_is_in_the_table() -> None:
    named = set(re.findall(r"[a-z0-9_]+", SPEC.read_text())) & set(POSTFIX)
    assert sorted(named - set(PARAMETERS)) == []


# -- computed defaults ------------------------------------------------------------------------


def test_myhostname_of_the_reference_machine_is_what_postfix_printed(
    reference_machine: None,
) -> None:
    assert params.default_myhostname() == POSTFIX["myhostname"] == "vm.localdomain"


def test_mydomain_of_the_reference_machine_is_what_postfix_printed(
    reference_machine: None,
) -> None:
    assert params.default_mydomain() == POSTFIX["mydomain"]


def test_mynetworks_of_the_reference_machine_is_what_postfix_printed(
    reference_machine: None,
) -> None:
    assert params.default_mynetworks() == POSTFIX["mynetworks"]


def test_a_dotted_node_name_is_myhostname_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.uname()
    fake = os.uname_result((real.sysname, "relay.corp.local", *real[2:]))
    monkeypatch.setattr(params.os, "uname", lambda: fake)
    assert params.default_myhostname() == "relay.corp.local"
    assert params.default_mydomain() == "corp.local"


def test_a_bare_node_name_takes_the_configured_mydomain(reference_machine: None) -> None:
    settings = {"mydomain": "corp.local"}
    assert params.default_myhostname(settings.get) == "vm.corp.local"


@pytest.mark.parametrize(
    ("hostname", "domain"),
    [
        ("relay.corp.local", "corp.local"),
        ("vm.localdomain", "localdomain"),
        ("example.com", "localdomain"),
        ("localhost", "localdomain"),
        ("a.b.c.d", "b.c.d"),
    ],
)
def test_mydomain_is_myhostname_minus_its_first_label(hostname: str, domain: str) -> None:
    assert params.domain_of(hostname) == domain
    assert params.default_mydomain({"myhostname": hostname}.get) == domain


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, "127.0.0.0/8 192.0.2.0/24 [::1]/128 [fd00::]/64 [fe80::]/64"),
        ({"compatibility_level": "3.6"},
         "127.0.0.1/32 192.0.2.2/32 [::1]/128 [fd00::2]/128 [fe80::fc:ff:fe00:1]/128"),
        ({"mynetworks_style": "host", "inet_protocols": "ipv4"}, "127.0.0.1/32 192.0.2.2/32"),
        ({"mynetworks_style": "class", "inet_interfaces": "loopback-only"},
         "127.0.0.0/8 [::1]/128"),
        ({"inet_interfaces": "192.0.2.2", "inet_protocols": "ipv4"}, "192.0.2.0/24"),
        ({"mynetworks_style": "class", "inet_protocols": "ipv4"}, "127.0.0.0/8 192.0.2.0/24"),
    ],
)
def test_mynetworks_follows_style_interfaces_and_protocols(
    reference_machine: None, settings: dict[str, str], expected: str
) -> None:
    """Each is real Postfix's answer on the reference machine (postconf -c with these settings)."""
    assert params.default_mynetworks(settings.get) == expected


def test_mynetworks_falls_back_to_loopback_when_proc_cannot_be_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(params, "_PROC_FIB_TRIE", "/nonexistent/fib_trie")
    monkeypatch.setattr(params, "_PROC_IF_INET6", "/nonexistent/if_inet6")
    assert params.default_mynetworks() == "127.0.0.0/8 [::1]/128"


# -- live oracle: real postconf on this machine -------------------------------------------------

needs_postfix = pytest.mark.skipif(
    shutil.which("postconf") is None, reason="real Postfix (postconf) is not installed"
)


def _postconf(*args: str) -> dict[str, str]:
    out = subprocess.run(
        ["postconf", *args], capture_output=True, text=True, check=True
    ).stdout
    return dict(line.split(" = ", 1) if " = " in line else (line.rstrip(" ="), "")
                for line in out.splitlines())


@needs_postfix
def test_computed_defaults_match_live_postconf_d() -> None:
    live = _postconf("-d", *sorted(COMPUTED))
    assert {n: _default_text(n) for n in COMPUTED} == live


@needs_postfix
@pytest.mark.parametrize(
    "settings",
    [
        {"myhostname": "relay.corp.local"},
        {"mydomain": "corp.local", "inet_interfaces": "loopback-only"},
        {"mynetworks_style": "host", "inet_protocols": "ipv4"},
        {"compatibility_level": "3.6"},
        {"mynetworks_style": "class"},
    ],
)
def test_computed_values_follow_settings_as_live_postconf_does(
    tmp_path: Path, settings: dict[str, str]
) -> None:
    (tmp_path / "main.cf").write_text("".join(f"{k} = {v}\n" for k, v in settings.items()))
    (tmp_path / "master.cf").write_text("")
    old = (tmp_path / "main.cf").stat().st_mtime - 60
    os.utime(tmp_path / "main.cf", (old, old))  # Postfix waits 2 s for a just-written main.cf.
    live = _postconf("-c", str(tmp_path), *sorted(COMPUTED))
    computes = {n: PARAMETERS[n].compute for n in COMPUTED}
    ours = {n: f(settings.get) for n, f in computes.items() if f is not None}
    for name in COMPUTED & set(settings):
        ours[name] = settings[name]
    assert ours == live
