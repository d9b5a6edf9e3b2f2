"""In-process fan-out of job events (state changes, progress) to waiting HTTP clients.

The runner publishes from its threads; server-sent-event streams and long polls consume on
the asyncio loop. The database stays the truth: a subscriber re-reads the job when woken,
and polls it now and then so that jobs run by another replica are seen too.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import defaultdict
from typing import Any


class EventBus:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Queue]]] = defaultdict(set)

    def publish(self, job_id: str, event: dict[str, Any]) -> None:
        """Thread-safe; never blocks the publisher."""
        with self._lock:
            targets = list(self._subscribers.get(job_id, ()))
        for loop, queue in targets:
            with contextlib.suppress(RuntimeError):  # a closed loop: its subscriber is gone
                loop.call_soon_threadsafe(queue.put_nowait, event)

    def subscribe(self, job_id: str) -> Subscription:
        return Subscription(self, job_id)

    def _add(self, job_id: str, item: tuple) -> None:
        with self._lock:
            self._subscribers[job_id].add(item)

    def _remove(self, job_id: str, item: tuple) -> None:
        with self._lock:
            subscribers = self._subscribers.get(job_id)
            if subscribers is not None:
                subscribers.discard(item)
                if not subscribers:
                    del self._subscribers[job_id]


class Subscription:
    """``async with bus.subscribe(id) as sub: event = await sub.next(timeout)``."""

    def __init__(self, bus: EventBus, job_id: str) -> None:
        self.bus, self.job_id = bus, job_id
        self.queue: asyncio.Queue = asyncio.Queue()
        self._item: tuple | None = None

    async def __aenter__(self) -> Subscription:
        self._item = (asyncio.get_running_loop(), self.queue)
        self.bus._add(self.job_id, self._item)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._item is not None:
            self.bus._remove(self.job_id, self._item)

    async def next(self, timeout: float) -> dict[str, Any] | None:
        """The next event, or None after ``timeout`` seconds."""
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None
