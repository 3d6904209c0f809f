"""Capture helper: a STARTTLS + AUTH SMTP server (aiosmtpd) with a given certificate.

python3 capture_server.py PORT CERT.pem [maxver=TLSv1_2] [ciphers=...] [curve=...]
Prints "ready", then "AUTH <mechanism> <user> <password>" for each authentication.
"""

import ssl
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

port, pem = int(sys.argv[1]), sys.argv[2]
options = dict(a.split("=", 1) for a in sys.argv[3:])
context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(pem)
if "curve" in options:
    context.set_ecdh_curve(options["curve"])
if "ciphers" in options:
    context.set_ciphers(options["ciphers"])
if "maxver" in options:
    context.maximum_version = getattr(ssl.TLSVersion, options["maxver"])


class Handler:
    async def handle_DATA(self, server, session, envelope):
        return "250 2.0.0 Ok: queued"


def authenticate(server, session, envelope, mechanism, data):
    print("AUTH", mechanism, data.login.decode(), data.password.decode(), flush=True)
    return AuthResult(success=True)


controller = Controller(Handler(), hostname="127.0.0.1", port=port, tls_context=context,
                        require_starttls=False, authenticator=authenticate,
                        auth_require_tls=False)
controller.start()
print("ready", flush=True)
try:
    while True:
        time.sleep(3600)
except KeyboardInterrupt:
    controller.stop()
