"""The Redis token bucket. Refill runs on Redis' clock, so where a test's outcome depends on
time its bounds are computed from the time the test measured, not from a hoped-for speed."""

import logging
import math
import multiprocessing
import time
import uuid

import redis

from devstack.processes import free_port
from libs.access.keycache import EPOCH_KEY
from libs.access.ratelimit import RateLimiter
from libs.platform.redis_client import create_redis


def _spend(redis_url: str, bucket_tenant: str, attempts: int, start_at: float, results) -> None:
    limiter = RateLimiter(redis.Redis.from_url(redis_url))
    while time.time() < start_at:  # both processes fire together
        time.sleep(0.001)
    began = time.time()
    allowed = sum(limiter.hit(bucket_tenant, "check", 50).allowed for _ in range(attempts))
    results.put((allowed, began, time.time()))


def test_two_processes_share_one_bucket_exactly(settings):
    tenant = uuid.uuid4().hex
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    start_at = time.time() + 1.5
    workers = [
        context.Process(target=_spend, args=(settings.redis_url, tenant, 40, start_at, results)) for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=10)
    allowed = sum(count for count, _, _ in outcomes)
    # 80 attempts at a bucket of 50: the burst, plus whatever refilled (50/min) while they ran.
    # Any token spent twice would show up above that bound.
    window = max(end for _, _, end in outcomes) - min(began for _, began, _ in outcomes)
    assert 50 <= allowed <= 50 + math.floor(window * 50 / 60)


def test_a_refused_hit_says_when_to_retry_in_whole_seconds(redis_client):
    limiter = RateLimiter(redis_client)
    tenant = uuid.uuid4().hex
    began = time.monotonic()
    assert [limiter.hit(tenant, "prep", 1).allowed for _ in range(2)] == [True, False]
    refused = limiter.hit(tenant, "prep", 1)
    elapsed = time.monotonic() - began
    assert not refused.allowed
    # 1/min: the next token is due a minute after the first hit, less the time since
    assert math.floor(60 - elapsed) <= refused.retry_after <= 60


def test_bucket_refills_continuously(redis_client):
    limiter = RateLimiter(redis_client)
    tenant = uuid.uuid4().hex
    while True:  # 10 tokens per second; spend them all
        emptied = time.monotonic()
        if not limiter.hit(tenant, "check", 600).allowed:
            break
    time.sleep(0.35)
    refilled = sum(limiter.hit(tenant, "check", 600).allowed for _ in range(10))
    window = time.monotonic() - emptied
    # at least what 0.35 s brings; at most less than one token left over plus what the
    # whole measured window brings
    assert 3 <= refilled <= min(10, math.floor(1 + window * 10))


def test_buckets_are_per_tenant_and_per_scope(redis_client):
    limiter = RateLimiter(redis_client)
    tenant, other = uuid.uuid4().hex, uuid.uuid4().hex
    assert limiter.hit(tenant, "prep", 1).allowed
    assert not limiter.hit(tenant, "prep", 1).allowed  # 1/min: no refill within a minute
    assert limiter.hit(tenant, "check", 1).allowed
    assert limiter.hit(other, "prep", 1).allowed


def test_a_stale_epoch_spends_nothing_and_returns_the_current_one(redis_client):
    limiter = RateLimiter(redis_client)
    tenant = uuid.uuid4().hex
    current = limiter.hit(tenant, "prep", 1).auth_epoch  # spends the only token
    assert current == (redis_client.get(EPOCH_KEY) or b"").decode()
    stale = limiter.hit(tenant, "prep", 1, epoch=current + "-old")
    assert stale.stale and not stale.allowed and stale.auth_epoch == current
    refused = limiter.hit(tenant, "prep", 1, epoch=current)
    assert not refused.stale and not refused.allowed and refused.retry_after >= 1


def test_a_current_epoch_spends_as_usual(redis_client):
    limiter = RateLimiter(redis_client)
    tenant = uuid.uuid4().hex
    epoch = limiter.hit(uuid.uuid4().hex, "prep", 1).auth_epoch
    assert [limiter.hit(tenant, "prep", 1, epoch=epoch).allowed for _ in range(2)] == [True, False]


def test_limiter_fails_open_and_warns_once_a_minute_when_redis_is_unreachable(caplog):
    dead = create_redis(f"redis://127.0.0.1:{free_port()}/0")
    now = [1000.0]
    limiter = RateLimiter(dead, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="libs.access.ratelimit"):
        decisions = [limiter.hit("t", "prep", 1) for _ in range(20)]
        now[0] += 59.0
        decisions += [limiter.hit("t", "prep", 1) for _ in range(5)]
        assert len(caplog.records) == 1
        now[0] += 1.0
        decisions.append(limiter.hit("t", "prep", 1))
    assert all(decision.allowed and decision.auth_epoch is None for decision in decisions)
    assert [record.levelno for record in caplog.records] == [logging.WARNING, logging.WARNING]
    assert "rate limiter unavailable" in caplog.records[0].getMessage()
    assert "(25 since the last warning)" in caplog.records[1].getMessage()


def test_a_redis_that_forgot_the_script_still_counts_the_request(redis_client):
    limiter = RateLimiter(redis_client)
    tenant = uuid.uuid4().hex
    assert limiter.hit(tenant, "check", 2).allowed
    redis_client.script_flush()  # what a Redis restart does to loaded scripts
    assert limiter.hit(tenant, "check", 2).allowed
    assert not limiter.hit(tenant, "check", 2).allowed  # the reloaded script spent the token
