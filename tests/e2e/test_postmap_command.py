"""The real ``mailrelay postmap`` console script on real files.

The last test is the one that matters for a running relay: a reader process looks a compiled
table up in a tight loop while ``mailrelay postmap`` rebuilds it twenty times; the reader must
only ever see a complete table (every key, all from the same build), and a table it opened
before a rebuild must stay whole after it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

MAILRELAY = shutil.which("mailrelay") or "mailrelay"


def postmap(*args: str, cwd: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([MAILRELAY, "postmap", *args], input=stdin, capture_output=True,
                          text=True, cwd=cwd, timeout=60)


GENERIC = """\
# /etc/postfix/generic
root@relay.corp.local noreply@corp.com
www-data@relay.corp.local noreply@corp.com
nagios@relay.corp.local monitoring@corp.com
@relay.corp.local noreply@corp.com
"""


def test_the_guides_generic_table_compiles_and_answers(tmp_path: Path) -> None:
    (tmp_path / "generic").write_text(GENERIC)
    built = postmap("hash:generic", cwd=tmp_path)
    assert (built.returncode, built.stdout, built.stderr) == (0, "", "")
    assert (tmp_path / "generic.db").exists()
    found = postmap("-q", "Nagios@Relay.Corp.Local", "hash:generic", cwd=tmp_path)
    assert (found.returncode, found.stdout) == (0, "monitoring@corp.com\n")
    missing = postmap("-q", "test@corp.local", "hash:generic", cwd=tmp_path)
    assert (missing.returncode, missing.stdout, missing.stderr) == (1, "", "")


def test_keys_from_standard_input_and_listing(tmp_path: Path) -> None:
    (tmp_path / "generic").write_text(GENERIC)
    postmap("generic", cwd=tmp_path)
    many = postmap("-q", "-", "hash:generic", cwd=tmp_path,
                   stdin="root@relay.corp.local\nnobody@x\n@relay.corp.local\n")
    assert many.returncode == 0
    assert many.stdout == ("root@relay.corp.local\tnoreply@corp.com\n"
                           "@relay.corp.local\tnoreply@corp.com\n")
    listing = postmap("-s", "hash:generic", cwd=tmp_path)
    assert listing.stdout.splitlines() == sorted(listing.stdout.splitlines())
    assert len(listing.stdout.splitlines()) == 4


def test_a_private_source_gives_a_private_table(tmp_path: Path) -> None:
    source = tmp_path / "sasl_passwd"
    source.write_text("[smtp.office365.com]:587 relay@corp.com:secret\n")
    source.chmod(0o600)
    assert postmap("hash:sasl_passwd", cwd=tmp_path).returncode == 0
    assert (tmp_path / "sasl_passwd.db").stat().st_mode & 0o777 == 0o600
    answer = postmap("-q", "[smtp.office365.com]:587", "hash:sasl_passwd", cwd=tmp_path)
    assert answer.stdout == "relay@corp.com:secret\n"


@pytest.mark.parametrize(("args", "stderr"), [
    (["-q", "x", "hash:missing"],
     "mailrelay/postmap: fatal: open database missing.db: No such file or directory\n"),
    (["-q", "x", "inline:{ a=b"],
     'mailrelay/postmap: fatal: bad syntax: "inline:{ a=b"; need "inline:{name=value...}"\n'),
    (["-q", "x", "mysql:/etc/x.cf"], "mailrelay/postmap: fatal: unsupported dictionary type: "
                                     "mysql\n"),
    (["regexp:broken"], "mailrelay/postmap: fatal: unsupported dictionary type: regexp does "
                        "not support bulk-mode creation.\n"),
])
def test_bad_input_is_one_fatal_line_never_a_traceback(tmp_path: Path, args: list[str],
                                                       stderr: str) -> None:
    (tmp_path / "broken").write_text("/(/ x\n")
    result = postmap(*args, cwd=tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (1, "", stderr)


def test_a_broken_regexp_rule_is_skipped_with_a_warning(tmp_path: Path) -> None:
    (tmp_path / "checks").write_text("/^(.*@localhost/ REJECT\n/^From:/ WARN\n")
    result = postmap("-q", "From: a@localhost", "regexp:checks", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout == "WARN\n"
    assert result.stderr == "mailrelay/postmap: warning: regexp map checks, line 1: " \
                            "Unmatched ( or \\(\n"


READER = textwrap.dedent("""
    import os, sys
    from mailrelay.maps.registry import open_map

    spec, keys, stop = sys.argv[1], int(sys.argv[2]), sys.argv[3]

    def version(table):
        values = {table.lookup(f"key{i}@example.com") for i in range(keys)}
        if len(values) != 1 or None in values:
            print("MIXED", sorted(map(str, values))[:5], flush=True)
            sys.exit(1)
        return values.pop()

    first = open_map(spec)
    first_version = version(first)
    seen, checks = set(), 0
    while not os.path.exists(stop):
        table = open_map(spec)  # the file as it is now: old or new, never half
        seen.add(version(table))
        table.close()
        checks += 1
        if version(first) != first_version:  # a table opened earlier stays whole
            print("CHANGED UNDER A READER", flush=True)
            sys.exit(1)
    print("OK", checks, len(seen), flush=True)
""")


def test_readers_never_see_half_a_table_while_postmap_rebuilds_it(tmp_path: Path) -> None:
    keys = 3000
    source = tmp_path / "transport"

    def write_version(n: int) -> None:
        source.write_text("".join(f"key{i}@example.com smtp:[relay{n}.example.com]:25\n"
                                  for i in range(keys)))

    write_version(0)
    assert postmap("hash:transport", cwd=tmp_path).returncode == 0
    stop = tmp_path / "stop"
    reader = subprocess.Popen([sys.executable, "-c", READER, f"hash:{source}", str(keys),
                               str(stop)], stdout=subprocess.PIPE, text=True)
    try:
        for n in range(1, 21):
            write_version(n)
            result = postmap("hash:transport", cwd=tmp_path)
            assert result.returncode == 0, result.stderr
            time.sleep(0.02)
    finally:
        stop.touch()
        out, _ = reader.communicate(timeout=60)
    assert reader.returncode == 0, out
    status, checks, versions = out.split()
    assert status == "OK" and int(checks) > 20 and int(versions) > 1
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("."))
    assert leftovers == []  # no temporary files left beside the table
    assert not os.path.exists(f"{source}.db-lock")  # no LMDB lock file either
