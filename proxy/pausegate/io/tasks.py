"""A TaskGroup an adapter opens in start() and closes in stop(), with tracked tasks. Adapter.

Rules:
1. Every task an adapter spawns belongs to its group (STYLE §6: no bare create_task).
2. After close(), spawn() closes the coroutine instead of scheduling it.
3. close() cancels what is still running, then waits for the group to finish.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


class TaskScope:
    """start()/stop()-shaped ownership of one asyncio.TaskGroup."""

    def __init__(self) -> None:
        self._tg: asyncio.TaskGroup | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        self._tg = asyncio.TaskGroup()
        await self._tg.__aenter__()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        if self._tg is None:
            coro.close()
            return
        task = self._tg.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tg is not None:
            tg, self._tg = self._tg, None
            await tg.__aexit__(None, None, None)
