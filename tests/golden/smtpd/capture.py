"""Capture the SMTP dialogues of this directory from a real Postfix (see README.md).

Usage: python tests/golden/smtpd/capture.py [NAME...]   (all dialogues without NAME)

Each dialogue below is a list of client writes; the script sends each write to the private
Postfix of ``postfix-oracle`` on 127.0.0.1, waits until the server has been quiet for a
moment, and records what came back.  The result is one ``NAME.dialogue`` file per script.
"""

from __future__ import annotations

import re
import socket
import ssl
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent

#: Service name → port of the oracle's master.cf (README.md lists their settings).
PORTS = {
    "default": 2625,
    "untrusted": 2627,
    "tls": 2628,
    "tls-encrypt": 2629,
    "wrapper": 2630,
    "limits": 2631,
    "strict": 2632,
    "legacy": 2633,
    "reject-lf": 2634,
    "reject-lf-521": 2635,
    "discard": 2636,
    "size5000": 2637,
    "timeout": 2638,
    "tls-legacy": 2639,
    "discard-all": 2640,
    "client-reject": 2641,
    "unlimited": 2643,
}

TLS = "TLS"  # the client starts TLS here
WAIT = "WAIT"  # the client sends nothing until the server gives up (smtpd_timeout)
PREGREET = "PREGREET"  # the first write goes out before the banner is read

E = b"EHLO client.example\r\n"
MT = b"MAIL FROM:<sender@example.com>\r\nRCPT TO:<rcpt@example.net>\r\n"
Q = b"QUIT\r\n"


def lines(*cmds: str) -> list[bytes]:
    """One write per command, each ended with CRLF."""
    return [c.encode("utf-8", "surrogateescape") + b"\r\n" for c in cmds]


def smuggle(separator: bytes) -> list[bytes]:
    body = b"Subject: test\r\n\r\nbody" + separator
    smuggled = b"MAIL FROM:<evil@example.org>\r\nRCPT TO:<victim@example.net>\r\nDATA\r\n"
    return [E, MT, b"DATA\r\n", body + smuggled + b"smuggled\r\n.\r\n", Q]


def message(body: bytes) -> list[bytes]:
    return [E, MT, b"DATA\r\n", body, Q]


def fill(total: int, width: int = 100) -> bytes:
    """Message content of exactly *total* counted bytes in lines of *width* (CRLF included)."""
    out = b""
    while total - len(out) > width + 3:
        out += b"x" * (width - 2) + b"\r\n"
    return out + b"y" * (total - len(out) - 2) + b"\r\n"


DIALOGUES: dict[str, tuple[str, str, list[bytes | str]]] = {
    # -- the basic commands -------------------------------------------------------------
    "basic-esmtp": (
        "default",
        "EHLO, MAIL, RCPT, DATA, QUIT",
        [
            E,
            *lines("MAIL FROM:<sender@example.com>", "RCPT TO:<rcpt@example.net>", "DATA"),
            b"Subject: hello\r\n\r\nbody\r\n.\r\n",
            Q,
        ],
    ),
    "basic-helo": (
        "default",
        "HELO and a message without EHLO",
        [
            *lines("HELO client.example", "MAIL FROM:<>", "RCPT TO:<rcpt@example.net>", "DATA"),
            b"body\r\n.\r\n",
            Q,
        ],
    ),
    "session-commands": (
        "default",
        "NOOP, RSET, VRFY, ETRN, HELP, AUTH, XCLIENT, case",
        lines(
            "NOOP",
            "NOOP with arguments",
            "noop",
            "RSET",
            "RSET x",
            "VRFY",
            "VRFY root",
            "VRFY <rcpt@example.net>",
            "VRFY a b",
            "VRFY rcpt@example.net SMTPUTF8",
            "ETRN",
            "ETRN example.com",
            "ETRN #example.com",
            "ETRN @example.com",
            "ETRN a b",
            "ETRN -bad",
            "HELP",
            "EXPN root",
            "AUTH PLAIN",
            "XCLIENT NAME=x",
            "XFORWARD NAME=x",
            "STARTTLS",
            "quit now",
        ),
    ),
    "unknown-commands": (
        "default",
        "empty lines, unknown and forbidden commands",
        [*lines("", "   ", "FOO", "FOO bar", "HELP me"), b"\x00NOOP\r\n", *lines("CONNECT x")],
    ),
    "forbidden-get": ("default", "an HTTP request gets 221", lines("GET / HTTP/1.0")),
    "forbidden-header": ("default", "a header line as command gets 221", lines("Subject: hello")),
    "forbidden-digit": ("default", "a command not starting with a letter", lines("1NOOP")),
    "helo-variants": (
        "default",
        "HELO and EHLO arguments",
        lines(
            "HELO",
            "EHLO",
            "HELO a b",
            "HELO [192.0.2.1]",
            "EHLO client.example extra words",
            "HELO client.example",
            "NOOP",
            Q.decode().strip(),
        ),
    ),
    "helo-mid-transaction": (
        "default",
        "EHLO resets a transaction",
        [E, MT, E, *lines("RCPT TO:<rcpt@example.net>", "DATA", "QUIT")],
    ),
    "nul-and-utf8": (
        "default",
        "NUL bytes and UTF-8 in commands",
        [
            b"NOOP\x00x\r\n",
            b"HELO a\x00b\r\n",
            b"MAIL FROM:<a\x00@example.com>\r\n",
            b"HELO \xc3\xa9t\xc3\xa9\r\n",
            b"HELO \xff\r\n",
            b"MAIL FROM:<\xc3\xa9@example.com>\r\n",
            b"RCPT TO:<r\xc3\xa9@example.net>\r\n",
            b"RSET\r\n",
            b"MAIL FROM:<a@\xc3\xa9xample.com>\r\n",
            b"MAIL FROM:<a@\xc3\xa9xample.com> SMTPUTF8\r\n",
            b"RCPT TO:<r@\xc3\xa9xample.net>\r\n",
            Q,
        ],
    ),
    "long-command-line": (
        "default",
        "command lines longer than line_length_limit",
        [
            b"NOOP " + b"x" * 3000 + b"\r\n",
            b"MAIL FROM:<a@example.com> " + b" " * 2016 + b"FOO=bar\r\n",
            b"RSET\r\n",
            b"MAIL FROM:<a@example.com> " + b" " * 2022 + b"FOO=bar\r\n",
            b"RSET\r\n",
            b"MAIL FROM:<a@example.com> " + b" " * 2030 + b"FOO=bar\r\n",
            Q,
        ],
    ),
    # -- MAIL and RCPT ------------------------------------------------------------------
    "mail-sequence": (
        "default",
        "MAIL FROM syntax and sequence errors",
        lines(
            "RCPT TO:<rcpt@example.net>",
            "DATA",
            "MAIL",
            "MAIL FROM",
            "MAIL FROM:",
            "MAIL TO:<a@b.c>",
            "MAIL FROM :<a@example.com>",
            "MAIL FROM:<>",
            "MAIL FROM:<>",
            "RSET",
            "MAIL FROM: <a@example.com>",
            "RSET",
            "MAIL FROM:a@example.com",
            "RSET",
            "mail from:<a@example.com>",
            "DATA",
            "QUIT",
        ),
    ),
    "mail-params": (
        "default",
        "MAIL FROM parameters",
        lines(
            "MAIL FROM:<a@example.com> FOO=bar",
            "MAIL FROM:<a@example.com> SIZE=abc",
            "MAIL FROM:<a@example.com> SIZE=",
            "MAIL FROM:<a@example.com> SIZE",
            "MAIL FROM:<a@example.com> SIZE=+5",
            "MAIL FROM:<a@example.com> BODY=9BIT",
            "MAIL FROM:<a@example.com> BODY",
            "MAIL FROM:<a@example.com> BODY=BINARYMIME",
            "MAIL FROM:<a@example.com> RET=X",
            "MAIL FROM:<a@example.com> RET=FULL RET=HDRS",
            "MAIL FROM:<a@example.com> ENVID=",
            "MAIL FROM:<a@example.com> ENVID=a+2Gb",
            "MAIL FROM:<a@example.com> ENVID=a+0Ab",
            "MAIL FROM:<a@example.com> ENVID=a ENVID=b",
            "MAIL FROM:<a@example.com> ENVID=\xe9",
            "MAIL FROM:<a@example.com> SMTPUTF8=x",
            "MAIL FROM:<a@example.com> XVERP",
            "MAIL FROM:<a@example.com> AUTH",
            "MAIL FROM:<a@example.com> <b@example.com>",
            "MAIL FROM:<a@example.com>SIZE=5",
            "MAIL FROM:<a b@example.com> FOO=bar",
            "MAIL FROM:<a@example.com> SIZE=x FOO=bar",
            "MAIL FROM:<a@example.com> FOO=bar SIZE=x",
            "MAIL FROM:<a@example.com> BODY=8BITMIME SMTPUTF8 RET=full ENVID=a+2Bb SIZE=100",
            "RSET",
            "MAIL FROM:<a@example.com> size=10 body=7bit ret=hdrs envid=x AUTH=<>",
            "RSET",
            "MAIL FROM:<a@example.com> SIZE=1 SIZE=2 SMTPUTF8 SMTPUTF8 BODY=7BIT BODY=8BITMIME",
            "QUIT",
        ),
    ),
    "mail-size": (
        "default",
        "SIZE against message_size_limit, and Postfix remembering it",
        lines(
            "MAIL FROM:<a@example.com> SIZE=10240000",
            "RSET",
            "MAIL FROM:<a@example.com> SIZE=10240001",
            "MAIL FROM:<a@example.com>",
            "MAIL FROM:<a@example.com> SIZE=5 FOO=bar",
            "MAIL FROM:<a@example.com>",
            "RSET",
            "MAIL FROM:<a@example.com> SIZE=99999999",
            "RSET",
            "MAIL FROM:<a@example.com>",
            "RSET",
            "MAIL FROM:<a@example.com> SIZE=9223372036854775807",
            "MAIL FROM:<a@example.com> SIZE=9223372036854775808",
            "MAIL FROM:<a@example.com>",
            "QUIT",
        ),
    ),
    "rcpt-sequence": (
        "default",
        "RCPT TO syntax, sequence and parameters",
        lines(
            "MAIL FROM:<a@example.com>",
            "RCPT TO:",
            "RCPT",
            "RCPT FROM:<r@example.net>",
            "RCPT TO:<>",
            "RCPT TO:<r@example.net> FOO=bar",
            "RCPT TO:<r b@example.net> FOO=bar",
            "RCPT TO:<r@example.net> SIZE=1",
            "RCPT TO:<r@example.net> NOTIFY=NEVER",
            "RCPT TO:<r@example.net> NOTIFY=SUCCESS,FAILURE,DELAY",
            "RCPT TO:<r@example.net> notify=success",
            "RCPT TO:<r@example.net> NOTIFY=NEVER,SUCCESS",
            "RCPT TO:<r@example.net> NOTIFY=BOGUS",
            "RCPT TO:<r@example.net> NOTIFY=",
            "RCPT TO:<r@example.net> NOTIFY=DELAY NOTIFY=DELAY",
            "RCPT TO:<r@example.net> ORCPT=rfc822;r@example.net",
            "RCPT TO:<r@example.net> ORCPT=rfc822;r+40example.net",
            "RCPT TO:<r@example.net> ORCPT=x",
            "RCPT TO:<r@example.net> ORCPT=;x",
            "RCPT TO:<r@example.net> ORCPT=rfc822;a+ZZ",
            "RCPT TO:<r@example.net> ORCPT=foo;bar ORCPT=foo;bar",
            "RCPT TO:<r@example.net> ORCPT=rfc822;",
            "RCPT TO: <r@example.net>",
            "RCPT TO:r@example.net",
            "rcpt to:<R@EXAMPLE.NET>",
            "QUIT",
        ),
    ),
    "no-valid-recipients": (
        "default",
        "DATA without an accepted recipient",
        [
            *lines(
                "EHLO client.example",
                "DATA",
                "MAIL FROM:<a@example.com>",
                "DATA",
                "RCPT TO:<bad b@example.net>",
                "DATA",
                "RCPT TO:<r@example.net>",
                "DATA x",
                "DATA",
            ),
            b".\r\n",
            Q,
        ],
    ),
    "addresses": (
        "default",
        "what Postfix takes for an address",
        [
            b"MAIL FROM:<>\r\n",
            *lines(
                *(
                    f"RCPT TO:{a}"
                    for a in (
                        "<a@example.net>",
                        "a@example.net",
                        "<a>",
                        "<@>",
                        "<a@>",
                        "<@example.net>",
                        "<a b@c>",
                        "<a@b@example.net>",
                        '<"a b"@example.net>',
                        '<"a@b"@example.net>',
                        "<@a,@b:u@example.net>",
                        "<@a:u@example.net>",
                        "<@a,b:u@example.net>",
                        "<a@[192.0.2.1]>",
                        "<a@[1.2.3]>",
                        "<a@[IPv6:2001:db8::1]>",
                        "<a@[foo]>",
                        "<a@[192.0.2.256]>",
                        "<a@b..c>",
                        "<a@-b.c>",
                        "<a@b-.c>",
                        "<a@b_c.d>",
                        "<a@123>",
                        "<a@1.2.3.4>",
                        "<a@11.22>",
                        "<a@b.1>",
                        "<a@example.net.>",
                        "<a.@example.net>",
                        "<.a@example.net>",
                        "<a..b@example.net>",
                        "<a(comment)@example.net>",
                        "<a@example.net",
                        "a@example.net>",
                        "<<a@example.net>>",
                        "<a,b@example.net>",
                        "<a;b@example.net>",
                        "<a\\ b@example.net>",
                        "<a%b@example.net>",
                        "<a!b@example.net>",
                        "<a:b@example.net>",
                        '<""@example.net>',
                        "<a@example.net:>",
                        "<a@example.net >",
                        "< a@example.net>",
                        "<a@example.net>x",
                        "<Name <a@example.net>>",
                        "<a@EXAMPLE.NET>",
                        "<" + "a" * 300 + "@example.net>",
                        "<a@" + "b" * 64 + ".net>",
                        "<a@" + ("b" * 60 + ".") * 5 + "net>",
                        "<(unclosed@example.net>",
                        '<"unclosed@example.net>',
                        "<a@example.net> <b@example.net>",
                    )
                )
            ),
            Q,
        ],
    ),
    "data-syntax-order": (
        "default",
        "which DATA error comes first",
        lines("DATA x", "MAIL FROM:<a@example.com>", "DATA x", "QUIT"),
    ),
    "bdat-null-fresh": (
        "default",
        "a null BDAT outside a message",
        [
            E,
            b"BDAT 0\r\n",
            b"DATA\r\n",
            b"MAIL FROM:<a@example.com>\r\n",
            b"RSET\r\n",
            MT,
            b"BDAT 0 LAST\r\n",
            b"RCPT TO:<r@example.net>\r\n",
            Q,
        ],
    ),
    "junk-commands": (
        "legacy",
        "smtpd_junk_command_limit = 100 then the error limit",
        [b"NOOP\r\n" * 125],
    ),
    "errors-pipelined": (
        "legacy",
        "the 421 comes as soon as the limit is reached",
        [b"FOO\r\n" * 25],
    ),
    # -- limits --------------------------------------------------------------------------
    "too-many-recipients": (
        "limits",
        "smtpd_recipient_limit = 3",
        [
            *lines(
                "MAIL FROM:<a@example.com>",
                "RCPT TO:<r1@example.net>",
                "RCPT TO:<r2@example.net>",
                "RCPT TO:<r3@example.net>",
                "RCPT TO:<r4@example.net>",
                "RCPT TO:<bad b@example.net>",
                "RCPT TO:<r5@example.net> FOO=bar",
                "RCPT TO:<>",
                "DATA",
            ),
            b"x\r\n.\r\n",
            Q,
        ],
    ),
    "error-limit": (
        "limits",
        "smtpd_hard_error_limit = 4: the 421 follows the 4th error",
        lines("FOO", "FOO", "FOO", "NOOP", "FOO", "NOOP"),
    ),
    "error-limit-reset": (
        "limits",
        "a queued message resets the error count",
        [
            *lines(
                "FOO", "FOO", "FOO", "MAIL FROM:<a@example.com>", "RCPT TO:<r@example.net>", "DATA"
            ),
            b"x\r\n.\r\n",
            *lines("FOO", "FOO", "FOO", "NOOP", "FOO", "NOOP"),
        ],
    ),
    "size-limit-data": (
        "limits",
        "message_size_limit = 2000 counts lines plus 2 per line",
        [
            E,
            MT,
            b"DATA\r\n",
            fill(2000) + b".\r\n",
            MT,
            b"DATA\r\n",
            fill(2001) + b".\r\n",
            MT,
            b"DATA\r\n",
            b"..." + fill(1998)[2:] + b".\r\n",
            MT,
            b"DATA\r\n",
            b"x" * 5000 + b"\r\n.\r\n",
            Q,
        ],
    ),
    "size-limit-mail": (
        "limits",
        "SIZE above message_size_limit",
        lines(
            "EHLO client.example",
            "MAIL FROM:<a@example.com> SIZE=2001",
            "MAIL FROM:<a@example.com> SIZE=2000",
            "QUIT",
        ),
    ),
    "size-pieces": (
        "size5000",
        "long lines count as pieces of line_length_limit",
        [E]
        + [
            part
            for n, end, counted in (
                (2046, b"\r\n", 2048),
                (2047, b"\r\n", 2049),
                (2048, b"\r\n", 2052),
                (2048, b"\n", 2052),
                (4096, b"\r\n", 4102),
                (2046, b"\r\r\n", 2049),
            )
            for extra in (0, 1)
            for part in (MT, b"DATA\r\n", b"z" * n + end + fill(5000 - counted + extra) + b".\r\n")
        ]
        + [Q],
    ),
    "bdat-limits": (
        "limits",
        "BDAT against message_size_limit",
        [
            E,
            MT,
            b"BDAT 2500 LAST\r\n" + b"x" * 2500,
            b"RCPT TO:<r2@example.net>\r\n",
            b"RSET\r\n",
            MT,
            b"BDAT 1500\r\n" + b"x" * 1500,
            b"BDAT 600\r\n" + b"x" * 600,
            b"BDAT 10\r\n" + b"y" * 10,
            b"BDAT 10 LAST\r\n" + b"y" * 10,
            b"RCPT TO:<r@example.net>\r\n",
            MT,
            b"BDAT 1998 LAST\r\n" + b"z" * 1998,
            Q,
        ],
    ),
    # -- DATA ------------------------------------------------------------------------------
    "data-content": (
        "default",
        "dot-stuffing and line ends inside DATA",
        [
            E,
            MT,
            b"DATA\r\n",
            b"Subject: t\r\n\r\nL1\r\r\nL2\n.\n..\n..x\r\nL3\r\n.\nL4\r\n.\r\r\nL5\r\n.x\r\n"
            b"a\rb\r\n\r\n.\r\n",
            Q,
        ],
    ),
    "data-split": (
        "default",
        "DATA content and its end split across writes",
        [E, MT, b"DATA\r\n", b"line one\r\n", b"line two\r", b"\n.", b"\r", b"\n", b"NOOP\r\n", Q],
    ),
    "data-empty": ("default", "an empty message", [E, MT, b"DATA\r\n", b".\r\n", Q]),
    "data-after-bare-lf-command": (
        "default",
        "DATA ended by a bare LF",
        [E, MT, b"DATA\n", b".\r\nx\r\n.\r\n", Q],
    ),
    # -- smuggling ---------------------------------------------------------------------------
    "smuggle-lf-dot-lf": ("default", "\\n.\\n is not an end of data", smuggle(b"\n.\n")),
    "smuggle-crlf-dot-lf": ("default", "\\r\\n.\\n is not an end of data", smuggle(b"\r\n.\n")),
    "smuggle-lf-dot-crlf": ("default", "\\n.\\r\\n is not an end of data", smuggle(b"\n.\r\n")),
    "smuggle-cr-dot-crlf": ("default", "\\r.\\r\\n is not an end of data", smuggle(b"\r.\r\n")),
    "smuggle-crlf-dot-cr": ("default", "\\r\\n.\\r is not an end of data", smuggle(b"\r\n.\r")),
    "smuggle-reject": (
        "reject-lf",
        "reject: the whole thing is one refused message",
        smuggle(b"\n.\n"),
    ),
    "smuggle-reject-crlf-dot-lf": ("reject-lf", "reject: \\r\\n.\\n", smuggle(b"\r\n.\n")),
    "smuggle-reject-cr": ("reject-lf", "reject: a bare CR is fine", smuggle(b"\r.\r\n")),
    # -- bare LF -----------------------------------------------------------------------------
    "bare-lf-commands": (
        "default",
        "normalize: a bare LF ends a command line",
        [
            b"NOOP\n",
            b"NOOP\r\r\n",
            b"HELO a\rb\r\n",
            b"EHLO client.example\n",
            b"MAIL FROM:<a@example.com> SIZE=1\r\r\n",
            Q,
        ],
    ),
    "bare-lf-reject-command": ("reject-lf", "reject: bare LF in a command", [b"NOOP\n"]),
    "bare-lf-reject-521": ("reject-lf-521", "reject with code 521", [b"NOOP\n"]),
    "bare-lf-reject-data": (
        "reject-lf",
        "reject: bare LF in DATA, refused at the end",
        [E, MT, b"DATA\r\n", b"a\nb\r\n.\r\n", b"NOOP\r\n", MT, b"DATA\r\n", b"ok\r\n.\r\n", Q],
    ),
    "bare-lf-reject-crcr": (
        "reject-lf",
        "reject: CR CR LF is no bare LF",
        [E, MT, b"DATA\r\n", b"L1\r\r\n.\r\r\n..\r\n.\r\n", Q],
    ),
    "bare-lf-reject-bdat": (
        "reject-lf",
        "reject: bare LF inside BDAT",
        [E, MT, b"BDAT 5 LAST\r\na\nb\r\n", Q],
    ),
    # -- pipelining --------------------------------------------------------------------------
    "pipelining-ok": (
        "default",
        "pipelining after EHLO, DATA last",
        [E, MT + b"DATA\r\n", b"x\r\n.\r\n" + MT + b"DATA\r\n", b"y\r\n.\r\nQUIT\r\n"],
    ),
    "pipelining-pregreet": ("default", "talking before the greeting", [PREGREET, Q]),
    "pipelining-helo": (
        "default",
        "pipelining without EHLO",
        [b"HELO client.example\r\nMAIL FROM:<a@example.com>\r\n"],
    ),
    "pipelining-after-helo": (
        "default",
        "MAIL and RCPT pipelined after HELO",
        [b"HELO client.example\r\n", MT],
    ),
    "pipelining-ehlo-last": ("default", "EHLO must end a group", [E + b"NOOP\r\n"]),
    "pipelining-data-last": ("default", "DATA must end a group", [E, MT + b"DATA\r\nx\r\n.\r\n"]),
    "pipelining-noop-last": ("default", "NOOP must end a group", [E, b"NOOP\r\nNOOP\r\n"]),
    "pipelining-rset": ("default", "RSET may be pipelined", [E, b"RSET\r\n" + MT, Q]),
    "pipelining-unknown": ("default", "unknown commands are not judged", [b"FOO\r\nNOOP\r\n", Q]),
    "pipelining-bdat": (
        "default",
        "BDAT and its chunk in one write with the next command",
        [E, MT + b"BDAT 3 LAST\r\nabcQUIT\r\n"],
    ),
    "pipelining-rset-pre-ehlo": ("default", "RSET pipelined before EHLO", [b"RSET\r\nQUIT\r\n"]),
    "pipelining-legacy": (
        "legacy",
        "smtpd_forbid_unauth_pipelining = no",
        [
            PREGREET,
            b"NOOP\r\n",
            b"HELO client.example\r\nMAIL FROM:<a@example.com>\r\n",
            E + b"NOOP\r\n",
            b"RSET\r\n" + MT + b"DATA\r\nx\r\n.\r\n",
            Q,
        ],
    ),
    "legacy-smuggle-dot-cr-cr": (
        "legacy",
        "no: all CRs before LF are dropped",
        [E, MT, b"DATA\r\n", b"L1\r\r\n.\r\r\n", Q],
    ),
    # -- BDAT ----------------------------------------------------------------------------------
    "bdat-basic": (
        "default",
        "BDAT chunks and the size Postfix reports",
        [
            E,
            MT,
            b"BDAT 5\r\nabc\r\n",
            b"BDAT 4\r\na\r\nb",
            b"BDAT 0 LAST\r\n",
            MT,
            b"BDAT 2\r\nab",
            b"BDAT 3 LAST\r\nc\r\n",
            MT,
            b"BDAT 2 LAST\r\nab",
            MT,
            b"BDAT 01 last\r\nx",
            MT,
            b"BDAT 9 LAST\r\na\nb\r\nc.\r\n",
            Q,
        ],
    ),
    "bdat-errors": (
        "default",
        "BDAT out of sequence, and the discarding that follows",
        [
            E,
            b"BDAT 2\r\nab",
            b"BDAT 3\r\nabc",
            b"BDAT 0\r\n",
            b"DATA\r\n",
            b"MAIL FROM:<a@example.com>\r\n",
            b"RCPT TO:<r@example.net>\r\n",
            b"BDAT 1 LAST\r\nc",
            b"BDAT 1 LAST\r\nc",
            b"RSET\r\n",
            MT,
            b"BDAT 3\r\nabc",
            b"DATA\r\n",
            b"BDAT 0\r\n",
            b"MAIL FROM:<a@example.com>\r\n",
            b"RCPT TO:<r@example.net>\r\n",
            b"RSET\r\n",
            b"BDAT 0 LAST\r\n",
            Q,
        ],
    ),
    "bdat-rset": (
        "default",
        "RSET between chunks",
        [E, MT, b"BDAT 2\r\nab", b"RSET\r\n", b"BDAT 1 LAST\r\nc", Q],
    ),
    "bdat-syntax-x": ("default", "BDAT with a bad size closes", [E, MT, b"BDAT x\r\n"]),
    "bdat-syntax-las": ("default", "BDAT with a bad LAST closes", [E, MT, b"BDAT 1 LAS\r\n"]),
    "bdat-syntax-none": ("default", "BDAT without a size closes", [E, MT, b"BDAT\r\n"]),
    "bdat-syntax-extra": (
        "default",
        "BDAT with too many words closes",
        [E, MT, b"BDAT 1 LAST X\r\n"],
    ),
    "bdat-syntax-huge": (
        "default",
        "BDAT with an overflowing size closes",
        [E, MT, b"BDAT 99999999999999999999999\r\n"],
    ),
    "bdat-null-then-last": (
        "default",
        "a null BDAT in the middle of a message",
        [E, MT, b"BDAT 3\r\nabc", b"BDAT 0\r\n", b"BDAT 1 LAST\r\nd", Q],
    ),
    "bdat-discarded-chunking": (
        "discard",
        "BDAT when CHUNKING is not offered",
        [E, MT, b"BDAT 1\r\n"],
    ),
    # -- STARTTLS and TLS levels -----------------------------------------------------------------
    "starttls": (
        "tls",
        "STARTTLS, then a fresh session",
        [
            E,
            b"STARTTLS x\r\n",
            b"STARTTLS\r\n",
            TLS,
            b"MAIL FROM:<a@example.com>\r\n",
            E,
            b"STARTTLS\r\n",
            b"STARTTLS x\r\n",
            Q,
        ],
    ),
    "starttls-no-ehlo": (
        "tls",
        "STARTTLS before any EHLO",
        [b"STARTTLS\r\n", TLS, b"HELO client.example\r\n", Q],
    ),
    "starttls-in-transaction": (
        "tls",
        "STARTTLS in the middle of a transaction",
        [E, MT, b"STARTTLS\r\n", TLS, b"RCPT TO:<r@example.net>\r\n", Q],
    ),
    "starttls-pipelined": (
        "tls",
        "what is pipelined after STARTTLS is discarded",
        [E, b"STARTTLS\r\nMAIL FROM:<a@example.com>\r\n", TLS, b"RCPT TO:<r@example.net>\r\n", Q],
    ),
    "starttls-esmtp-kept": (
        "tls",
        "pipelining after STARTTLS without a new EHLO",
        [E, b"STARTTLS\r\n", TLS, MT, Q],
    ),
    "starttls-pre-ehlo-pipelined": (
        "tls",
        "STARTTLS pipelined before EHLO",
        [b"STARTTLS\r\nNOOP\r\n"],
    ),
    "starttls-legacy-pipelined": (
        "tls-legacy",
        "STARTTLS pipelined, no synchronization",
        [b"STARTTLS\r\nNOOP\r\n", TLS, b"NOOP\r\n", Q],
    ),
    "starttls-unavailable": ("default", "STARTTLS without TLS configured", [E, b"STARTTLS\r\n", Q]),
    "tls-encrypt": (
        "tls-encrypt",
        "smtpd_tls_security_level = encrypt",
        [
            *lines(
                "MAIL FROM:<a@example.com>",
                "HELO client.example",
                "RCPT TO:<r@example.net>",
                "DATA",
                "VRFY x",
                "ETRN example.com",
                "NOOP",
                "RSET",
                "FOO",
                "AUTH PLAIN",
                "EHLO client.example",
            ),
            b"BDAT 1\r\n",
            b"STARTTLS\r\n",
            TLS,
            E,
            MT,
            b"DATA\r\n",
            b"x\r\n.\r\n",
            Q,
        ],
    ),
    "tls-wrapper": ("wrapper", "smtpd_tls_wrappermode = yes", [E, b"STARTTLS\r\n", Q]),
    # -- other settings ----------------------------------------------------------------------
    "strict": (
        "strict",
        "disable_vrfy_command = yes, smtpd_helo_required = yes",
        lines(
            "VRFY x",
            "VRFY",
            "MAIL FROM:<a@example.com>",
            "ETRN example.com",
            "RCPT TO:<r@example.net>",
            "DATA",
            "EHLO client.example",
            "VRFY x",
            "ETRN example.com",
            "MAIL FROM:<a@example.com>",
            "QUIT",
        ),
    ),
    "discard-keywords": (
        "discard",
        "smtpd_discard_ehlo_keywords, smtputf8_enable = no",
        [
            E,
            *lines(
                "MAIL FROM:<a@example.com> ENVID=x",
                "MAIL FROM:<a@example.com> RET=FULL",
                "MAIL FROM:<a@example.com> SMTPUTF8",
                "MAIL FROM:<a@éxample.com> SMTPUTF8",
                "VRFY",
                "MAIL FROM:<a@example.com> BODY=8BITMIME SIZE=10",
                "RCPT TO:<r@example.net> NOTIFY=NEVER",
                "RCPT TO:<r@example.net> ORCPT=rfc822;x",
                "RCPT TO:<r@example.net>",
            ),
            b"HELO \xff\r\n",
            Q,
        ],
    ),
    "discard-all": (
        "discard-all",
        "every EHLO keyword discarded",
        [
            E,
            b"STARTTLS\r\n",
            b"MAIL FROM:<a@example.com> SIZE=10\r\n",
            b"RCPT TO:<r@example.net>\r\n",
            b"DATA\r\n",
            b"x\r\n.\r\n",
            Q,
        ],
    ),
    "no-size-limit": (
        "unlimited",
        "message_size_limit = 0: SIZE without a number, any SIZE= accepted",
        [E, *lines("MAIL FROM:<a@example.com> SIZE=99999999999", "QUIT")],
    ),
    "relay-denied": (
        "untrusted",
        "the shell refuses relaying for an untrusted client",
        [
            E,
            *lines(
                "MAIL FROM:<a@example.com>",
                "RCPT TO:<user@foreign.example>",
                'RCPT TO:<"user@foreign"@relay.corp.local>',
                "RCPT TO:<@relay.corp.local:user@foreign.example>",
                "DATA",
                "RSET",
                "QUIT",
            ),
        ],
    ),
    "client-rejected": (
        "client-reject",
        "smtpd_delay_reject = no and a client restriction",
        lines("HELO client.example", "MAIL FROM:<a@example.com>", "FOO", "NOOP", "QUIT"),
    ),
    "timeout": ("timeout", "smtpd_timeout expires", [WAIT]),
    "timeout-in-data": (
        "timeout",
        "smtpd_timeout expires inside DATA",
        [E, MT, b"DATA\r\n", b"partial", WAIT],
    ),
}


def quiet_read(sock: socket.socket, quiet: float = 0.4) -> tuple[bytes, bool]:
    """What the server sends until it has been quiet for *quiet* seconds; (data, closed)."""
    out = b""
    sock.settimeout(quiet)
    while True:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            return out, False
        except (ConnectionResetError, ssl.SSLError):
            return out, True
        if not data:
            return out, True
        out += data


def escape(data: bytes) -> str:
    out = []
    for b in data:
        if b == 0x5C:
            out.append("\\\\")
        elif 32 <= b < 127:
            out.append(chr(b))
        else:
            out.append({9: "\\t", 10: "\\n", 13: "\\r"}.get(b, f"\\x{b:02x}"))
    return "".join(out)


QUEUE_ID = re.compile(rb"queued as [0-9A-F]+")


def server_lines(data: bytes) -> list[str]:
    data = QUEUE_ID.sub(b"queued as QUEUEID", data)
    parts = data.split(b"\r\n")
    result = [f"S: {escape(p)}" for p in parts[:-1]]
    if parts[-1]:
        result.append(f"S~ {escape(parts[-1])}")
    return result


def capture(name: str, service: str, title: str, steps: list[bytes | str]) -> str:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    sock: socket.socket = socket.create_connection(("127.0.0.1", PORTS[service]))
    out = [f"# {title}", f"@service {service}"]
    if service == "wrapper":
        sock = ctx.wrap_socket(sock)
    steps = list(steps)
    if steps and steps[0] == PREGREET:
        steps.pop(0)
        first = steps.pop(0)
        assert isinstance(first, bytes)
        sock.sendall(first)
        out.append(f"C: {escape(first)}")
    data, closed = quiet_read(sock)
    out += server_lines(data)
    for step in steps:
        if closed:
            break
        if step == TLS:
            sock = ctx.wrap_socket(sock)
            out.append("= starttls")
            continue
        if step == WAIT:
            out.append("= timeout")
            data, closed = quiet_read(sock, 5.0)
        else:
            assert isinstance(step, bytes)
            sock.sendall(step)
            out.append(f"C: {escape(step)}")
            data, closed = quiet_read(sock)
        out += server_lines(data)
    if closed:
        out.append("= closed")
    sock.close()
    return "\n".join(out) + "\n"


def main(names: list[str]) -> None:
    for name in names or list(DIALOGUES):
        service, title, steps = DIALOGUES[name]
        text = capture(name, service, title, steps)
        (HERE / f"{name}.dialogue").write_text(text)
        print(name, file=sys.stderr)
        time.sleep(0.05)


if __name__ == "__main__":
    main(sys.argv[1:])
