"""Reading a course after a write that did not go through the app under test.

Such a write reaches a process's document cache as a PostgreSQL notification. The server
signals the listening backends as the writer's transaction commits, but each backend sends the
notification on its own time: a client can ask again (in process within microseconds, through
the gateway under load within a millisecond or two) before it has arrived, and be served the
version before the write. So the read is repeated until the notification has arrived, within a
bound far below anything a client could notice."""

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
