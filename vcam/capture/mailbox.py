"""A one-slot, newest-wins hand-over between the capture thread and the pipeline.

A queue would let frames pile up when the consumer is slower than the camera, and every frame would then
be older than the last; one slot keeps the age of what the consumer gets below one capture period."""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class Mailbox(Generic[T]):
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._full = False
        self._closed = False
        self.dropped = 0     # items replaced before anyone took them
        self.posted = 0

    def put(self, item: T) -> bool:
        """Leave ``item`` for the consumer, replacing (and counting as dropped) one it has not taken.
        Returns False once the mailbox is closed."""
        with self._cond:
            if self._closed:
                return False
            if self._full:
                self.dropped += 1
            self._item = item
            self._full = True
            self.posted += 1
            self._cond.notify_all()
            return True

    def get(self, timeout: float | None = None) -> T | None:
        """Take the item newer than the last one taken, waiting up to ``timeout`` seconds (None: forever).

        After close() the untaken item (if any) is still handed out, then None. Raises TimeoutError when
        nothing arrives in time."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._full or self._closed, timeout):
                raise TimeoutError(f"no frame within {timeout:.2f} s")
            if not self._full:
                return None
            item, self._item, self._full = self._item, None, False
            return item

    def close(self) -> None:
        """No more puts; wakes every waiting get()."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
