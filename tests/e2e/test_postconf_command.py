"""``mailrelay postconf`` as a subprocess (the real console script) against real Postfix's output.

The cases and how their reference files were captured: tests/golden/postconf/cases.txt,
capture.sh and README.md (both run with ``-c etc`` from a fresh directory, so the paths they
print are the same).  stdout must be byte for byte Postfix's.  stderr is compared as a set of
lines with the program prefix mapped (``postconf:`` → ``mailrelay/postconf:``): Postfix 3.7
prints its warnings in hash-table order and repeats some ("overriding earlier entry", once per
read of main.cf: it reads it several times); mailrelay prints them once, in file order.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parents[1] / "golden" / "postconf"
MAILRELAY = str(Path(sys.executable).with_name("mailrelay"))


def cases() -> list[tuple[str, str, str, list[str]]]:
    found = []
    for line in (GOLDEN / "cases.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, main, master, *args = line.split()
            found.append((name, main, master, args))
    return found


def mailrelay(
    args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MAILRELAY, *args], capture_output=True, text=True, timeout=60,
                          env=env, cwd=cwd, check=False)


def configuration(tmp_path: Path, main: str, master: str) -> Path:
    directory = tmp_path / "etc"
    directory.mkdir()
    shutil.copy(GOLDEN / main, directory / "main.cf")
    if master == "-":
        (directory / "master.cf").write_text("")
    else:
        shutil.copy(GOLDEN / master, directory / "master.cf")
    return directory


def ours(line: str) -> str:
    return "mailrelay/postconf: " + line.removeprefix("postconf: ")


@pytest.mark.parametrize(("name", "main", "master", "args"), cases(), ids=[c[0] for c in cases()])
def test_postconf_prints_what_real_postfix_printed(tmp_path, name, main, master, args):
    configuration(tmp_path, main, master)
    result = mailrelay(["-c", "etc", "postconf", *args], cwd=tmp_path)
    expected_out = (GOLDEN / f"{name}.ref").read_text()
    expected_err = (GOLDEN / f"{name}.stderr.ref").read_text()
    assert result.stdout == expected_out
    assert set(result.stderr.splitlines()) == {ours(line) for line in expected_err.splitlines()}
    assert result.returncode == (1 if "fatal:" in expected_err else 0)


def test_an_unknown_option_prints_the_usage_and_fails(tmp_path):
    result = mailrelay(["postconf", "-Z"])
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == "mailrelay/postconf: invalid option -- 'Z'"
    assert result.stderr.splitlines()[1].startswith("mailrelay/postconf: fatal: usage: ")
    assert "Traceback" not in result.stderr


def test_a_missing_main_cf_is_postfixs_fatal_error(tmp_path):
    result = mailrelay(["-c", str(tmp_path / "none"), "postconf", "-n"])
    assert result.returncode == 1
    assert result.stderr == (
        f"mailrelay/postconf: fatal: open {tmp_path}/none/main.cf: No such file or directory\n")


def test_without_any_configuration_it_shows_the_embedded_default_and_refuses_to_edit_it(
        tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MAILRELAY_CONFIG_DIR"}
    if os.path.isdir("/etc/mailrelay"):
        pytest.skip("/etc/mailrelay exists on this machine: it would be used")
    shown = mailrelay(["postconf", "-n"], env)
    assert shown.returncode == 0, shown.stderr
    assert "inet_interfaces = 127.0.0.1\n" in shown.stdout
    assert "config_directory" not in shown.stdout  # not named with -c: as Postfix
    edited = mailrelay(["postconf", "-e", "relayhost=[smtp.example.com]:587"], env)
    assert edited.returncode == 1
    assert "embedded default configuration" in edited.stderr and "-c DIR" in edited.stderr


def test_edits_keep_comments_and_order_and_append_new_names(tmp_path):
    (tmp_path / "main.cf").write_text(
        "# relay\nrelayhost = [old]:25\nmynetworks = 127.0.0.0/8,\n    10.0.0.0/8\n")
    (tmp_path / "main.cf").chmod(0o640)
    result = mailrelay(["-c", str(tmp_path), "postconf", "-e",
                        "mynetworks = 127.0.0.0/8", "relayhost=[new]:587", "myorigin=$mydomain"])
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "main.cf").read_text() == (
        "# relay\nrelayhost = [new]:587\nmynetworks = 127.0.0.0/8\nmyorigin = $mydomain\n")
    assert (tmp_path / "main.cf").stat().st_mode & 0o777 == 0o640


@pytest.mark.skipif(shutil.which("postconf") is None, reason="real Postfix is not installed")
def test_edits_match_real_postfix(tmp_path):
    text = ("# head\nmyhostname = a\n  b\n# mid comment\n  c\nmydomain = x\nrelayhost = r1\n"
            "# tail\nrelayhost = r2\n  r2b\n")
    # One new name only: Postfix 3.7 appends new names in hash-table order (a different order
    # from one run to the next); mailrelay appends them sorted, as later Postfix versions do.
    requests = [["-e", "relayhost = [new]:587", "  alpha =  2  ", "myhostname=h"],
                ["-X", "mydomain", "relayhost"], ["-#", "relayhost", "myhostname"]]
    for number, request in enumerate(requests):
        theirs, mine = tmp_path / f"p{number}", tmp_path / f"m{number}"
        for d in (theirs, mine):
            d.mkdir()
            (d / "main.cf").write_text(text)
            (d / "master.cf").write_text("")
        postfix = subprocess.run(["postconf", "-c", str(theirs), *request], capture_output=True,
                                 text=True, check=False)
        result = mailrelay(["-c", str(mine), "postconf", *request])
        assert (mine / "main.cf").read_text() == (theirs / "main.cf").read_text()
        assert result.stderr.replace(str(mine), "DIR") == "".join(
            ours(line) + "\n" for line in postfix.stderr.replace(str(theirs), "DIR").splitlines())


@pytest.mark.skipif(shutil.which("postconf") is None, reason="real Postfix is not installed")
@pytest.mark.parametrize("args", [
    ["-n", "-d"], ["-M", "-h"], ["-F", "-X", "x"], ["-e"], ["-X"], ["-ex", "x=1"],
    ["-X", "a=1"], ["-e", "a b=1"], ["-F", "smtp/inet/bogus"], ["-n", "nosuch", "relayhost"],
], ids=" ".join)
def test_option_checks_match_real_postfix(tmp_path, args):
    # (Postfix sleeps a second after a fatal error: the list is kept short.)
    for d in ("theirs", "mine"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "main.cf").write_text("relayhost = [smtp.example.com]:587\n")
        (tmp_path / d / "master.cf").write_text("smtp inet n - n - - smtpd\n")
    postfix = subprocess.run(["postconf", "-c", "theirs", *args], capture_output=True,
                             text=True, cwd=tmp_path, check=False)
    result = mailrelay(["-c", "mine", "postconf", *args], cwd=tmp_path)
    assert result.returncode == postfix.returncode
    assert result.stdout == postfix.stdout.replace("theirs", "mine")
    assert result.stderr == "".join(
        ours(line) + "\n" for line in postfix.stderr.replace("theirs", "mine").splitlines())
