"""A real SMTP server for strata-mail's tests (aiosmtpd), storing what it accepts.

    python smtp_sink.py [--host 127.0.0.1] [--port 2525] DIRECTORY

Every accepted message becomes two files in DIRECTORY: `<id>.eml`, the raw bytes as
received, and `<id>.json`, what a test checks (envelope, connection, decoded headers, and
the decoded body with LF line ends), written under a temporary name and renamed, so a
reader never sees half a file.

Behaviour the tests rely on:
- RCPT TO at the domain `reject.invalid` is refused with 550 (a permanent failure),
  at `defer.invalid` with 451 (a transient one).
- AUTH PLAIN/LOGIN over plain text is offered; `strata` / `sink-secret` succeeds.
  A failed login is answered with 535 and, on purpose, the password it was given, like
  a careless server would: the client must scrub it from its errors.
- 8BITMIME and SMTPUTF8 are offered.

Runs until SIGTERM or SIGINT. Prints `ready <host>:<port>` on stdout once it accepts
connections.
"""

import argparse
import email
import email.policy
import json
import os
import signal
import threading
import time
import uuid

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

LOGIN = b"strata"
PASSWORD = b"sink-secret"


def authenticator(server, session, envelope, mechanism, auth_data):
    if isinstance(auth_data, LoginPassword) and auth_data.login == LOGIN and auth_data.password == PASSWORD:
        return AuthResult(success=True, auth_data=auth_data)
    given = auth_data.password.decode("utf-8", "replace") if isinstance(auth_data, LoginPassword) else ""
    return AuthResult(
        success=False,
        handled=False,
        message=f"535 5.7.8 Authentication credentials invalid (password {given!r})",
    )


class Sink:
    def __init__(self, directory):
        self.directory = directory

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        domain = address.rpartition("@")[2].lower()
        if domain == "reject.invalid":
            return f"550 5.1.1 <{address}>: recipient rejected by the test sink"
        if domain == "defer.invalid":
            return f"451 4.3.0 <{address}>: try again later (test sink)"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "mail_options": list(envelope.mail_options),
            "peer": f"{session.peer[0]}:{session.peer[1]}",
            "authenticated": bool(session.authenticated),
            "login": session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None,
            "from": str(message["From"] or ""),
            "to": str(message["To"] or ""),
            "subject": str(message["Subject"] or ""),
            "content_type": message.get_content_type(),
            "charset": message.get_content_charset(),
            "headers": [[name, str(value)] for name, value in message.items()],
            # Line ends as the sender wrote them: SMTP carries CRLF.
            "body": body.get_content().replace("\r\n", "\n") if body is not None else None,
            "received_at": time.time(),
        }
        name = f"{time.time_ns()}-{uuid.uuid4().hex}"
        with open(os.path.join(self.directory, name + ".eml"), "wb") as f:
            f.write(raw)
        tmp = os.path.join(self.directory, "." + name + ".json.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f, ensure_ascii=False, indent=1)
        os.replace(tmp, os.path.join(self.directory, name + ".json"))
        return "250 2.0.0 Message accepted by the test sink"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("directory")
    args = parser.parse_args()
    os.makedirs(args.directory, exist_ok=True)

    controller = Controller(
        Sink(args.directory),
        hostname=args.host,
        port=args.port,
        authenticator=authenticator,
        # Plain-text AUTH, so the tests need no certificate.
        auth_require_tls=False,
        auth_required=False,
        enable_SMTPUTF8=True,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    # start() returns once the server answers a connection of its own, and
    # raises when the port cannot be bound.
    controller.start()
    print(f"ready {args.host}:{args.port}", flush=True)
    try:
        while not stop.wait(1):
            pass
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
