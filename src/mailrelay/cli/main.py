"""The ``mailrelay`` console script: Postfix's command names as subcommands.

Each command lives in its own module under ``mailrelay.cli`` with a ``run(args, ctx) -> int``
function; this module only dispatches, so ``mailrelay --help`` is generated from the table
below and cannot disagree with what exists.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from mailrelay import __version__
from mailrelay.cli.context import Context
from mailrelay.util.diagnostic import Fatal


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    module: str
    summary: str


COMMANDS: tuple[Command, ...] = (
    Command("serve", "mailrelay.cli.serve",
            "run the relay in the foreground, logging to stderr (Postfix's start-fg)"),
    Command("start", "mailrelay.cli.control",
            "start the relay in the background (Postfix's postfix start)"),
    Command("stop", "mailrelay.cli.control",
            "stop the relay: let transactions finish, then exit (Postfix's postfix stop)"),
    Command("abort", "mailrelay.cli.control", "stop the relay at once (Postfix's postfix abort)"),
    Command("reload", "mailrelay.cli.control",
            "check, then apply main.cf, master.cf and maps to new sessions "
            "(Postfix's postfix reload)"),
    Command("status", "mailrelay.cli.control",
            "say whether the relay is running (Postfix's postfix status)"),
    Command("logrotate", "mailrelay.cli.control",
            "rotate maillog_file: rename, reopen, compress (Postfix's postfix logrotate)"),
    Command("postconf", "mailrelay.cli.postconf",
            "show or edit main.cf parameters and master.cf services (Postfix's postconf)"),
    Command("postmap", "mailrelay.cli.postmap",
            "compile, query, dump or edit a lookup table (Postfix's postmap)"),
    Command("check", "mailrelay.cli.check",
            "validate the configuration, maps and files; warn about risky settings"),
    Command("sendmail", "mailrelay.cli.sendmail", "submit mail from stdin (Postfix's sendmail)"),
    Command("mailq", "mailrelay.cli.postqueue", "list the mail queue (Postfix's mailq)"),
    Command("postqueue", "mailrelay.cli.postqueue",
            "list the queue (-p, -j) or flush deferred mail (-f, -i, -s) (Postfix's postqueue)"),
    Command("postsuper", "mailrelay.cli.postsuper",
            "delete, hold, release, requeue or expire queued mail; check the queue "
            "(Postfix's postsuper)"),
    Command("postcat", "mailrelay.cli.postcat", "show a queued message (Postfix's postcat)"),
    Command("trace", "mailrelay.cli.trace",
            "show every decision a message would meet, with the parameter; nothing is sent"),
    Command("health", "mailrelay.cli.health",
            "Nagios/keepalived check: daemon, queue size and age, relayhost"),
)

_BY_NAME = {c.name: c for c in COMMANDS}

USAGE = "usage: mailrelay [-c CONFIG_DIR] COMMAND [ARGS...]"


def help_text() -> str:
    width = max(len(c.name) for c in COMMANDS)
    lines = [
        USAGE,
        "",
        "A centralized outbound mail relay, configured exactly like a Postfix relay.",
        "",
        "options:",
        "  -c CONFIG_DIR   configuration directory (also MAILRELAY_CONFIG_DIR; default",
        "                  /etc/mailrelay if it exists, else the embedded default)",
        "  -h, --help      show this help and exit",
        "  --version       show the version and exit",
        "",
        "commands:",
    ]
    lines += [f"  {c.name:<{width}}  {c.summary}" for c in COMMANDS]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    config_option: str | None = None
    while args and args[0].startswith("-"):
        opt = args.pop(0)
        if opt in ("-h", "--help"):
            sys.stdout.write(help_text())
            return 0
        if opt == "--version":
            print(f"mailrelay {__version__}")
            return 0
        if opt == "-c" and args:
            config_option = args.pop(0)
        elif opt.startswith("-c") and len(opt) > 2:
            config_option = opt[2:]
        else:
            sys.stderr.write(f"mailrelay: unknown option {opt!r}\n{USAGE}\n")
            return 2
    if not args:
        sys.stderr.write(help_text())
        return 2
    name = args.pop(0)
    command = _BY_NAME.get(name)
    if command is None:
        sys.stderr.write(f"mailrelay: unknown command {name!r}\n{USAGE}\n")
        return 2
    ctx = Context(command=name, config_option=config_option)
    run = importlib.import_module(command.module).run
    try:
        status: int = run(args, ctx)
    except Fatal as e:
        return ctx.fatal(e)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    return status
