"""The reference receiver: read the body, check the HMAC, parse the JSON, answer 200. Stores nothing.

Run as a script (`python bench/receiver.py PORT SECRET`); it imports nothing from the project so that it
costs exactly what the least possible receiver costs on this interpreter.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    secret = b""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        sig = "sha256=" + hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        ok = hmac.compare_digest(sig, self.headers.get("X-Hub-Signature-256", "")) and isinstance(
            json.loads(body), dict)
        self.send_response(200 if ok else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()


def main() -> None:
    Handler.secret = sys.argv[2].encode()
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()


if __name__ == "__main__":
    main()
