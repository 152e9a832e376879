"""A thread pool of the test's own in place of a module's ``_POOL``.

A module-level ``ThreadPoolExecutor`` whose threads were started in one process never starts
them again in a process forked from it: the child's pool believes it has idle threads, queues
the work, and the caller waits for ever. mutmut (scripts/mutation.sh) runs the tests once, then
forks a process per mutant, so a test that goes through such a pool (services/push.py's pushes,
state/db_call.py's runner) hung there and every mutant it covered was counted as a timeout, that
is as killed. A pool made in the test itself, in the process that runs it, has no such past.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from types import ModuleType

import pytest


@contextmanager
def own_pool(monkeypatch: pytest.MonkeyPatch, module: ModuleType) -> Iterator[None]:
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="test-pool")
    monkeypatch.setattr(module, "_POOL", pool)
    try:
        yield
    finally:
        pool.shutdown(wait=True)
