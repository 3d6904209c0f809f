"""A scriptable SMTP server standing in for the smarthost, run as a subprocess.

    python tests/e2e/smarthost.py CONFIG.json

It records every message it accepts (``N.eml``: the content as received, dot-unstuffed, and
``N.json``: helo, MAIL FROM and RCPT TO lines, TLS, AUTH user) and every byte each connection
sent *in clear* (``conn-N.raw``: what an eavesdropper would see), in the configured directory.
Its replies are scripted by rules so that tests can make it defer, refuse, drop, or keep
silent, at any stage, for the first N times only.  Written for the tests (not aiosmtpd):
exact control of every reply and of the raw bytes is the point.

CONFIG: {"port": P, "dir": D, "keywords": ["PIPELINING", "8BITMIME", "STARTTLS", ...],
         "cert": PEM (key and chain), "auth": {"user": "password"}, "require_auth": bool,
         "rules": [{"stage": "connect|ehlo|mail|rcpt|data|dot", "match": REGEX,
                    "reply": "450 4.2.0 try later" | "DROP" | "SILENT", "times": N}]}
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Rule:
    stage: str
    match: re.Pattern[str]
    reply: str
    times: int | None  # None: always; else how many more times

    def applies(self, stage: str, text: str) -> bool:
        if stage != self.stage or not self.match.search(text):
            return False
        if self.times is None:
            return True
        if self.times > 0:
            self.times -= 1
            return True
        return False


@dataclass
class Server:
    config: dict[str, Any]
    directory: Path
    rules: list[Rule] = field(default_factory=list)
    messages: int = 0
    connections: int = 0

    def rule(self, stage: str, text: str) -> str | None:
        for rule in self.rules:
            if rule.applies(stage, text):
                return rule.reply
        return None


class Drop(Exception):
    pass


class Session:
    def __init__(self, server: Server, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        server.connections += 1
        self.raw = (server.directory / f"conn-{server.connections}.raw").open("wb")
        self.tls = False
        self.user = ""
        self.helo = ""
        self.reset()

    def reset(self) -> None:
        self.mail = ""
        self.rcpts: list[str] = []

    async def reply(self, text: str) -> None:
        if text == "DROP":
            raise Drop
        if text == "SILENT":
            await asyncio.sleep(3600)
        self.writer.write(text.encode() + b"\r\n")
        await self.writer.drain()

    async def line(self) -> str:
        data = await self.reader.readline()
        if not data:
            raise Drop
        if not self.tls:
            self.raw.write(data)
            self.raw.flush()
        return data.decode("utf-8", "surrogateescape").rstrip("\r\n")

    def keywords(self) -> list[str]:
        words = list(self.server.config.get("keywords", ["PIPELINING", "8BITMIME"]))
        if self.tls:
            words = [w for w in words if w != "STARTTLS"]
        return words

    async def run(self) -> None:
        try:
            await self.reply(self.server.rule("connect", "") or "220 smarthost.test ESMTP")
            while True:
                if not await self.command(await self.line()):
                    return
        except (Drop, ConnectionError, ssl.SSLError):
            return
        finally:
            self.raw.close()
            self.writer.close()

    async def command(self, text: str) -> bool:
        verb = text.split(" ", 1)[0].upper()
        scripted = {"EHLO": "ehlo", "HELO": "ehlo", "MAIL": "mail", "RCPT": "rcpt",
                    "DATA": "data"}.get(verb)
        if scripted is not None:
            forced = self.server.rule(scripted, text)
            if forced is not None:
                await self.reply(forced)
                return True
        if verb in ("EHLO", "HELO"):
            self.helo = text[5:]
            words = self.keywords() if verb == "EHLO" else []
            lines = ["smarthost.test", *words]
            await self.reply("\r\n".join(f"250{'-' if i < len(lines) - 1 else ' '}{w}"
                                         for i, w in enumerate(lines)))
        elif verb == "STARTTLS" and not self.tls and "STARTTLS" in self.keywords():
            await self.reply("220 2.0.0 Ready to start TLS")
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.server.config["cert"])
            await self.writer.start_tls(context)
            self.tls = True
            self.reset()
        elif verb == "AUTH":
            await self.auth(text.split()[1:])
        elif verb == "MAIL":
            if self.server.config.get("require_auth") and not self.user:
                await self.reply("530 5.7.0 Authentication required")
            else:
                self.mail = text
                await self.reply("250 2.1.0 Ok")
        elif verb == "RCPT":
            self.rcpts.append(text)
            await self.reply("250 2.1.5 Ok")
        elif verb == "DATA":
            await self.data()
        elif verb == "RSET":
            self.reset()
            await self.reply("250 2.0.0 Ok")
        elif verb == "NOOP":
            await self.reply("250 2.0.0 Ok")
        elif verb == "QUIT":
            await self.reply("221 2.0.0 Bye")
            return False
        else:
            await self.reply("502 5.5.2 Error: command not recognized")
        return True

    async def auth(self, args: list[str]) -> None:
        users = self.server.config.get("auth", {})
        mechanism = args[0].upper() if args else ""
        if mechanism == "PLAIN":
            blob = args[1] if len(args) > 1 else None
            if blob is None:
                await self.reply("334 ")
                blob = await self.line()
            _, user, password = base64.b64decode(blob).decode().split("\0")
        elif mechanism == "LOGIN":
            await self.reply("334 VXNlcm5hbWU6")
            user = base64.b64decode(await self.line()).decode()
            await self.reply("334 UGFzc3dvcmQ6")
            password = base64.b64decode(await self.line()).decode()
        else:
            await self.reply("504 5.5.4 Unrecognized authentication type")
            return
        if users.get(user) == password:
            self.user = user
            await self.reply("235 2.7.0 Authentication successful")
        else:
            await self.reply("535 5.7.8 Error: authentication failed: bad credentials")

    async def data(self) -> None:
        if not self.mail or not self.rcpts:
            await self.reply("503 5.5.1 Error: need RCPT command")
            return
        await self.reply("354 End data with <CR><LF>.<CR><LF>")
        chunks = []
        while True:
            data = await self.reader.readline()
            if not data:
                raise Drop
            if not self.tls:
                self.raw.write(data)
            if data == b".\r\n":
                break
            chunks.append(data[1:] if data.startswith(b".") else data)
        forced = self.server.rule("dot", self.mail + " " + " ".join(self.rcpts))
        if forced is not None:
            await self.reply(forced)
            self.reset()
            return
        self.server.messages += 1
        n = self.server.messages
        # The .json first and the .eml renamed into place last: a reader that sees N.eml
        # finds both complete.
        (self.server.directory / f"{n}.json").write_text(json.dumps({
            "helo": self.helo, "mail": self.mail, "rcpts": self.rcpts, "tls": self.tls,
            "user": self.user}))
        partial = self.server.directory / f"{n}.eml.part"
        partial.write_bytes(b"".join(chunks))
        partial.rename(self.server.directory / f"{n}.eml")
        await self.reply(f"250 2.0.0 Ok: queued as SMARTHOST{n}")
        self.reset()


async def main(path: str) -> None:
    config = json.loads(Path(path).read_text())
    directory = Path(config["dir"])
    directory.mkdir(parents=True, exist_ok=True)
    rules = [Rule(r["stage"], re.compile(r.get("match", "")), r["reply"], r.get("times"))
             for r in config.get("rules", [])]
    server = Server(config, directory, rules)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await Session(server, reader, writer).run()

    listener = await asyncio.start_server(handle, "127.0.0.1", config["port"])
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with listener:
        await stop.wait()


class SmartHost:
    """The test's handle on a smarthost subprocess."""

    def __init__(self, root: Path, port: int, **config: Any) -> None:
        self.root = root
        self.port = port
        self.dir = root / f"smarthost-{port}"
        self.config = {"port": port, "dir": str(self.dir), **config}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> SmartHost:
        path = self.root / f"smarthost-{self.port}.json"
        path.write_text(json.dumps(self.config))
        self.proc = subprocess.Popen([sys.executable, __file__, str(path)])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                time.sleep(0.05)
        else:
            raise TimeoutError("the smarthost did not start")
        # The probe above was a connection: start counting from here.
        for raw in self.dir.glob("conn-*.raw"):
            raw.unlink()
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def messages(self) -> list[tuple[dict[str, Any], bytes]]:
        found = sorted(self.dir.glob("*.eml"), key=lambda p: int(p.stem))
        return [(json.loads(p.with_suffix(".json").read_text()), p.read_bytes())
                for p in found]

    def wait_for(self, count: int, timeout: float = 20) -> list[tuple[dict[str, Any], bytes]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.messages()
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError(f"the smarthost got {len(self.messages())} of {count} messages")

    def clear_text(self) -> bytes:
        """Every byte the smarthost received outside TLS, all connections."""
        return b"".join(p.read_bytes() for p in sorted(self.dir.glob("conn-*.raw")))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
