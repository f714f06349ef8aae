"""A Redis cache backend that treats an unreachable Redis as an empty cache.

Everything this project keeps in the cache can be recomputed (totals from the
shards, statistics from the pledges), so a Redis outage must cost speed, never
a page. Django's own RedisCache raises on every call instead, and a Redis that
hangs rather than refuses would make each call wait out its socket timeout: on
the day itself that is every reload of the campaign page waiting a second or
more, and every web worker soon busy waiting. After one failure this backend
stops asking Redis for a few seconds (per process, shared by its threads), so
an outage costs one timeout per process per interval instead of one per call.

Built on Django's public cache-backend API (BaseCache) and redis-py's public
client, storing values as Django's RedisCache does (integers as themselves, so
INCR works on them; anything else pickled), so the two read each other's keys.
"""

from __future__ import annotations

import logging
import pickle
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

import redis
from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache

logger = logging.getLogger(__name__)

# How long a process leaves Redis alone after a failure before trying again.
RETRY_AFTER_SECONDS = 5.0
# A refused connection is an OSError inside redis-py; a hung one a TimeoutError.
REDIS_ERRORS = (redis.RedisError, OSError)

T = TypeVar("T")
K = TypeVar("K")

_down_until: dict[str, float] = {}
_lock = threading.Lock()
# One client per location and options, shared by every thread's cache object: a redis.Redis is
# a thread-safe handle on its connection pool, which reconnects after a fork, and building one
# (it fills a table of reply handlers) is not free.
_clients: dict[tuple[str, tuple[tuple[str, Any], ...]], redis.Redis] = {}


# count_in_window: the first hit of a window starts its clock.
_COUNT_IN_WINDOW = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""

# incr: an existing counter only, in one step. EXISTS then INCRBY as two commands would let a
# key that expires between them come back as a new counter with no expiry (a rate-limit window
# given back at its last moment would never end).
_INCR_EXISTING = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
return redis.call('INCRBY', KEYS[1], ARGV[1])
"""


class CacheUnavailable(Exception):
    """Raised by the calls whose callers must know the cache did not answer
    (add, incr: a rate limit cannot count without them)."""


def _dumps(value: Any) -> Any:
    # As Django's RedisSerializer: an int stays an int so INCR can move it (bool is pickled).
    return value if type(value) is int else pickle.dumps(value, pickle.HIGHEST_PROTOCOL)


def _loads(data: Any) -> Any:
    try:
        return int(data)
    except ValueError:
        return pickle.loads(data)  # noqa: S301 - our own cache, written by _dumps


class ResilientRedisCache(BaseCache):
    def __init__(self, server: str | list[str], params: dict[str, Any]) -> None:
        super().__init__(params)
        # One server: the first, as Django's RedisCache writes to its first.
        self.location = server if isinstance(server, str) else server[0]
        self.location = self.location.split(",")[0]
        self.options = dict(params.get("OPTIONS") or {})
        self._count_script: redis.commands.core.Script | None = None
        self._incr_script: redis.commands.core.Script | None = None

    @property
    def client(self) -> redis.Redis:
        """This process's redis-py client for the cache's server."""
        key = (self.location, tuple(sorted(self.options.items())))
        found = _clients.get(key)
        if found is None:
            pool = redis.ConnectionPool.from_url(self.location, **self.options)
            found = _clients.setdefault(key, redis.Redis(connection_pool=pool))
        return found

    def _ttl(self, timeout: Any) -> int | None:
        """Seconds to keep a key (None: for ever); 0 or less: not at all."""
        if timeout == DEFAULT_TIMEOUT:
            timeout = self.default_timeout
        return None if timeout is None else max(0, int(timeout))

    def _available(self) -> bool:
        return time.monotonic() >= _down_until.get(self.location, 0.0)

    def _failed(self, exc: Exception) -> None:
        with _lock:
            first = self._available()
            _down_until[self.location] = time.monotonic() + RETRY_AFTER_SECONDS
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
        name = self.make_and_validate_key(key, version=version)

        def call() -> Any:
            value = self.client.get(name)
            return default if value is None else _loads(value)

        return self._or_default(default, call)

    def get_many(self, keys: Any, version: int | None = None) -> dict[Any, Any]:
        names = {self.make_and_validate_key(key, version=version): key for key in keys}

        def call() -> dict[Any, Any]:
            values = self.client.mget(list(names)) if names else []
            return {
                names[name]: _loads(value)
                for name, value in zip(names, values, strict=True)
                if value is not None
            }

        return self._or_default({}, call)

    def has_key(self, key: Any, version: int | None = None) -> bool:
        name = self.make_and_validate_key(key, version=version)
        return self._or_default(False, lambda: bool(self.client.exists(name)))

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        name = self.make_and_validate_key(key, version=version)
        ttl = self._ttl(timeout)

        def call() -> None:
            if ttl == 0:
                self.client.delete(name)
            else:
                self.client.set(name, _dumps(value), ex=ttl)

        self._or_default(None, call)

    def set_many(
        self, data: dict[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> list[Any]:
        if not data:
            return []
        names = {self.make_and_validate_key(key, version=version): value for key, value in data.items()}
        ttl = self._ttl(timeout)

        def call() -> list[Any]:
            if ttl == 0:
                self.client.delete(*names)
                return []
            pipeline = self.client.pipeline()
            pipeline.mset({name: _dumps(value) for name, value in names.items()})
            if ttl is not None:
                for name in names:
                    pipeline.expire(name, ttl)
            pipeline.execute()
            return []

        return self._or_default(list(data), call)

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        name = self.make_and_validate_key(key, version=version)
        ttl = self._ttl(timeout)

        def call() -> bool:
            return bool(self.client.persist(name) if ttl is None else self.client.expire(name, ttl))

        return self._or_default(False, call)

    def delete(self, key: Any, version: int | None = None) -> bool:
        name = self.make_and_validate_key(key, version=version)
        return self._or_default(False, lambda: bool(self.client.delete(name)))

    def delete_many(self, keys: Any, version: int | None = None) -> None:
        names = [self.make_and_validate_key(key, version=version) for key in keys]
        if names:
            self._or_default(None, lambda: self.client.delete(*names))

    def clear(self) -> None:
        self._or_default(None, lambda: self.client.flushdb())

    # Counting needs an answer: the caller decides what an outage means.
    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        name = self.make_and_validate_key(key, version=version)
        ttl = self._ttl(timeout)

        def call() -> bool:
            if ttl == 0:
                return bool(self.client.exists(name))
            return bool(self.client.set(name, _dumps(value), ex=ttl, nx=True))

        return self._or_raise(call)

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        name = self.make_and_validate_key(key, version=version)

        def call() -> int:
            client = self.client
            if self._incr_script is None or self._incr_script.registered_client is not client:
                self._incr_script = client.register_script(_INCR_EXISTING)
            value = self._incr_script(keys=[name], args=[delta])
            # As Django's: a missing key is an error, not a new counter.
            if value is None:
                raise ValueError(f"Key '{key}' not found.")
            return int(value)

        return self._or_raise(call)

    def count_in_window(self, key: Any, timeout: int, version: int | None = None) -> int:
        """Add one to a counter that lives `timeout` seconds from its first hit; the new count.

        One command (a script Redis runs atomically), where add() then incr() take three round
        trips (incr() asks EXISTS before INCRBY) and a MULTI pipeline four commands: it runs on
        every pledge, report and login. Raises CacheUnavailable like add() and incr()."""
        name = self.make_and_validate_key(key, version=version)

        def call() -> int:
            client = self.client
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
