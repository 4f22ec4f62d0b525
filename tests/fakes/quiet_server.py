"""A threading HTTP server for the tests' fake upstreams that keeps quiet about clients that
hang up: a client stopping at a size cap is the behaviour under test, not an error, and the
default report would land on stderr in whichever later test happens to be capturing it."""

from __future__ import annotations

import ssl
import sys
from http.server import ThreadingHTTPServer


class QuietHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # BrokenPipe, ConnectionReset…, and a TLS client refusing our test certificate on purpose
        if not isinstance(sys.exc_info()[1], ConnectionError | ssl.SSLError):
            super().handle_error(request, client_address)
