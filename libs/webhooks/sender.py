"""What sends webhook deliveries: threads of the worker process claim due deliveries, sign
and POST each through the SSRF-safe client (:mod:`libs.sources.pinned_http`) with a short
timeout, and record how it went. Woken by NOTIFY when a delivery is made or made due again."""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass

import psycopg
import requests
from psycopg_pool import ConnectionPool, PoolTimeout

from libs.errors import Invalid
from libs.sources import pinned_http
from libs.sources.pinned_http import Resolver
from libs.webhooks import deliveries, destination, endpoints, events, signing
from libs.webhooks.deliveries import Delivery

log = logging.getLogger(__name__)

CHANNEL = "webhooks_due"  # migrations/0024's trigger NOTIFYs it
USER_AGENT = "CourseSupporter-Webhooks/1"
KEEP_EVENTS_DAYS = 30
_PRUNE_EVERY_SECONDS = 3600.0


@dataclass(frozen=True)
class Outcome:
    """How one attempt went: delivered with ``status_code``, or an error in plain words
    (the receiver's own text is never kept) and whether to retry."""

    delivered: bool
    status_code: int | None = None
    error: str | None = None
    retry: bool = False


class Sender:
    """``threads`` senders, each with one delivery in hand at most; :meth:`send_due` is one
    pass over what is due (what the threads loop on, and what tests call)."""

    poll_seconds = 5.0

    def __init__(
        self,
        pool: ConnectionPool,
        conninfo: str,
        *,
        timeout_seconds: float,
        allow_private: bool,
        ca_bundle: str | None = None,
        resolver: Resolver = socket.getaddrinfo,
        threads: int = 4,
    ) -> None:
        self._pool = pool
        self._conninfo = conninfo
        self._timeout = timeout_seconds
        self._allow_private = allow_private
        self._verify: bool | str = ca_bundle or True
        self._resolver = resolver
        self._threads = threads
        # a claim outlives the longest attempt (connect and read timeouts) with room to record it
        self._lease = 2 * timeout_seconds + 30

    # --- one delivery -------------------------------------------------------------------

    def send_due(self) -> int:
        """Send deliveries until none is due; how many were attempted."""
        sent = 0
        while self.send_one():
            sent += 1
        return sent

    def send_one(self) -> bool:
        """Claim one due delivery, send it and record the outcome; ``False`` if none was due."""
        with self._pool.connection() as conn:
            delivery = deliveries.claim(conn, self._lease)
        if delivery is None:
            return False
        outcome = self.attempt(delivery)
        with self._pool.connection() as conn, conn.transaction():
            if outcome.delivered:
                deliveries.delivered(conn, delivery, outcome.status_code or 0)
                endpoints.note_success(conn, delivery.endpoint_id)
                return True
            status = deliveries.attempt_failed(
                conn, delivery, error=outcome.error or "", status_code=outcome.status_code, retry=outcome.retry
            )
            if status is not None and endpoints.note_failure(conn, delivery.endpoint_id):
                log.warning("webhook %s disabled: its deliveries failed for days", delivery.endpoint_id)
        log.info("webhook delivery %s attempt %d: %s (%s)", delivery.id, delivery.attempts, outcome.error, status)
        return True

    def attempt(self, delivery: Delivery) -> Outcome:
        """POST the delivery once; where it may go is checked again first (a name can have
        been pointed inside since the endpoint was registered)."""
        try:
            url = destination.check_url(delivery.url, allow_private=self._allow_private)
            addresses = destination.addresses(url, allow_private=self._allow_private, resolver=self._resolver)
        except Invalid as exc:
            return Outcome(False, error=f"the URL is not allowed: {exc.errors[0][1]}")
        except pinned_http.AddressRefused:
            return Outcome(False, error="the URL's host resolves to a private, local or metadata address")
        except pinned_http.NameNotFound:
            return Outcome(False, error="the URL's host name does not exist", retry=True)
        except pinned_http.LookupFailed:
            return Outcome(False, error="the URL's host name could not be looked up", retry=True)
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            **signing.headers(delivery.secrets, delivery.event_id, timestamp, delivery.body),
        }
        request = pinned_http.prepare("POST", url, headers=headers, data=delivery.body)
        try:
            with pinned_http.pinned_response(
                request, addresses, timeout=(self._timeout, self._timeout), verify=self._verify
            ) as response:
                code = response.status_code
        except requests.exceptions.SSLError:
            return Outcome(False, error="the endpoint's HTTPS certificate is not valid", retry=True)
        except requests.Timeout:
            return Outcome(False, error=f"the endpoint did not answer within {self._timeout:g} s", retry=True)
        except requests.RequestException:
            return Outcome(False, error="the endpoint could not be reached", retry=True)
        if 200 <= code < 300:
            return Outcome(True, status_code=code)
        if code in (408, 429) or code >= 500:
            return Outcome(False, status_code=code, error=f"the endpoint answered HTTP {code}", retry=True)
        if 300 <= code < 400:
            return Outcome(False, status_code=code, error=f"the endpoint redirected (HTTP {code}); not followed")
        return Outcome(False, status_code=code, error=f"the endpoint answered HTTP {code}")

    # --- the threads ----------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Send until ``stop`` is set: the sender threads, and this one listening for NOTIFY
        and pruning old events now and then. Database outages are waited out."""
        wakes = [threading.Event() for _ in range(self._threads)]
        threads = [
            threading.Thread(target=self._loop, args=(stop, wake), name=f"webhooks-{n}", daemon=True)
            for n, wake in enumerate(wakes)
        ]
        for thread in threads:
            thread.start()
        pruned_at = 0.0
        while not stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as listener:
                    listener.execute(f"LISTEN {CHANNEL}")
                    while not stop.is_set():
                        if time.monotonic() - pruned_at > _PRUNE_EVERY_SECONDS:
                            with self._pool.connection() as conn:
                                events.prune(conn, older_than_days=KEEP_EVENTS_DAYS)
                            pruned_at = time.monotonic()
                        if any(True for _ in listener.notifies(timeout=0.5, stop_after=1)):
                            for wake in wakes:
                                wake.set()
            except (psycopg.Error, PoolTimeout) as exc:  # the pruning's checkout too
                log.warning("webhook sender: database unavailable: %s", exc)
                stop.wait(2)
        for wake in wakes:
            wake.set()
        for thread in threads:
            thread.join(timeout=self._lease)

    def _loop(self, stop: threading.Event, wake: threading.Event) -> None:
        while not stop.is_set():
            wake.clear()
            try:
                self.send_due()
            except psycopg.Error as exc:
                log.warning("webhook sender: database unavailable: %s", exc)
            except Exception:
                log.exception("webhook sender failed; it goes on")
            wake.wait(self.poll_seconds)
