"""Django's Redis cache, made to treat an unreachable Redis as an empty cache.

Everything this project keeps in the cache can be recomputed (totals from the
shards, statistics from the pledges), so a Redis outage must cost speed, never
a page. Django's own RedisCache raises on every call instead, and a Redis that
hangs rather than refuses would make each call wait out its socket timeout: on
the day itself that is every reload of the campaign page waiting a second or
more, and every web worker soon busy waiting. After one failure this backend
stops asking Redis for a few seconds (per process, shared by its threads), so
an outage costs one timeout per process per interval instead of one per call.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

import redis
from django.core.cache.backends.redis import RedisCache, RedisCacheClient

logger = logging.getLogger(__name__)

# How long a process leaves Redis alone after a failure before trying again.
RETRY_AFTER_SECONDS = 5.0
# A refused connection is an OSError inside redis-py; a hung one a TimeoutError.
REDIS_ERRORS = (redis.RedisError, OSError)

T = TypeVar("T")
K = TypeVar("K")

_down_until: dict[tuple[str, ...], float] = {}
_lock = threading.Lock()


# count_in_window: the first hit of a window starts its clock.
_COUNT_IN_WINDOW = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


class CacheUnavailable(Exception):
    """Raised by the calls whose callers must know the cache did not answer
    (add, incr: a rate limit cannot count without them)."""


class _ReusedClient(RedisCacheClient):
    """Django's client, keeping one redis.Redis per pool instead of making one per call.

    Each redis.Redis builds a table of some 200 reply handlers in its constructor, a large share
    of a cache hit's CPU (bench/README.md). A Redis object is only a handle on its pool, which is
    thread-safe and reconnects after a fork, so one per pool serves every call.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, redis.Redis] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> redis.Redis:
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class ResilientRedisCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _ReusedClient
        self._count_script: redis.commands.core.Script | None = None

    def _available(self) -> bool:
        return time.monotonic() >= _down_until.get(tuple(self._servers), 0.0)

    def _failed(self, exc: Exception) -> None:
        with _lock:
            first = self._available()
            _down_until[tuple(self._servers)] = time.monotonic() + RETRY_AFTER_SECONDS
        if first:
            logger.warning(
                "Redis cache unavailable (%s: %s); serving without it, next try in %.0fs",
                type(exc).__name__,
                exc,
                RETRY_AFTER_SECONDS,
            )

    def _or_default(self, default: T, call: Callable[[], T]) -> T:
        if not self._available():
            return default
        try:
            return call()
        except REDIS_ERRORS as exc:
            self._failed(exc)
            return default

    def _or_raise(self, call: Callable[[], T]) -> T:
        if not self._available():
            raise CacheUnavailable("Redis was unreachable a moment ago")
        try:
            return call()
        except REDIS_ERRORS as exc:
            self._failed(exc)
            raise CacheUnavailable(str(exc)) from exc

    # Reads answer "not cached"; writes are skipped.
    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        return self._or_default(default, lambda: super(ResilientRedisCache, self).get(key, default, version))

    def get_many(self, keys: Any, version: int | None = None) -> dict[Any, Any]:
        return self._or_default({}, lambda: super(ResilientRedisCache, self).get_many(keys, version))

    def has_key(self, key: Any, version: int | None = None) -> bool:
        return self._or_default(False, lambda: super(ResilientRedisCache, self).has_key(key, version))

    def set(self, key: Any, value: Any, timeout: Any = 300, version: int | None = None) -> None:
        self._or_default(None, lambda: super(ResilientRedisCache, self).set(key, value, timeout, version))

    def set_many(self, data: dict[Any, Any], timeout: Any = 300, version: int | None = None) -> list[Any]:
        return self._or_default(
            list(data), lambda: super(ResilientRedisCache, self).set_many(data, timeout, version)
        )

    def touch(self, key: Any, timeout: Any = 300, version: int | None = None) -> bool:
        return self._or_default(False, lambda: super(ResilientRedisCache, self).touch(key, timeout, version))

    def delete(self, key: Any, version: int | None = None) -> bool:
        return self._or_default(False, lambda: super(ResilientRedisCache, self).delete(key, version))

    def delete_many(self, keys: Any, version: int | None = None) -> None:
        self._or_default(None, lambda: super(ResilientRedisCache, self).delete_many(keys, version))

    # Counting needs an answer: the caller decides what an outage means.
    def add(self, key: Any, value: Any, timeout: Any = 300, version: int | None = None) -> bool:
        return self._or_raise(lambda: super(ResilientRedisCache, self).add(key, value, timeout, version))

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        return self._or_raise(lambda: super(ResilientRedisCache, self).incr(key, delta, version))

    def count_in_window(self, key: Any, timeout: int, version: int | None = None) -> int:
        """Add one to a counter that lives `timeout` seconds from its first hit; the new count.

        One command (a script Redis runs atomically), where add() then incr() take three round
        trips (Django's incr() asks EXISTS before INCRBY) and a MULTI pipeline four commands: it
        runs on every pledge, report and login. Raises CacheUnavailable like add() and incr()."""

        def call() -> int:
            name = self.make_and_validate_key(key, version=version)
            client = self._cache.get_client(name, write=True)
            if self._count_script is None or self._count_script.registered_client is not client:
                self._count_script = client.register_script(_COUNT_IN_WINDOW)
            return int(self._count_script(keys=[name], args=[timeout]))

        return self._or_raise(call)


class ProcessMemo(Generic[K, T]):
    """Values one process keeps until a deadline, for reads allowed to lag by that long.

    The caller gives the clock's reading, so each memo keeps its own clock (monotonic for a
    process's own deadlines, the wall clock for one shared between processes). Callers store
    only keys that exist, so a memo holds one entry per campaign, not one per guess. A dict's get
    and set are atomic: threads that miss at once each read and store the same thing."""

    def __init__(self) -> None:
        self._entries: dict[K, tuple[float, T]] = {}

    def get(self, key: K, *, now: float) -> T | None:
        found = self._entries.get(key)
        return found[1] if found is not None and now < found[0] else None

    def put(self, key: K, value: T, *, until: float) -> None:
        self._entries[key] = (until, value)

    def forget(self, *keys: K) -> None:
        for key in keys:
            self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()

    def __iter__(self) -> Iterator[K]:
        return iter(self._entries)
