"""Reading a course after a write that did not go through the app under test.

Such a write reaches the app's document cache as a PostgreSQL notification, which the server
delivers to the listener as the writer's transaction commits — but an in-process test client
can ask again within microseconds of the commit, before the listener's backend has sent it.
Through the gateway a client cannot (tests/e2e: the very next read); here the read is repeated
until the notification has arrived, within a bound far below anything a client could notice."""

import time
from collections.abc import Callable

NOTIFICATION_BOUND_SECONDS = 1.0


def read_after_foreign_write(read: Callable[[], object], done: Callable[[object], bool]) -> object:
    deadline = time.monotonic() + NOTIFICATION_BOUND_SECONDS
    while True:
        result = read()
        if done(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.005)
