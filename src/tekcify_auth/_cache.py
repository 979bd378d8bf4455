"""A bounded, thread-safe LRU of verified tokens whose entries die with their token."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["ExpiringLRU"]

V = TypeVar("V")


class ExpiringLRU(Generic[V]):
    """Maps a token to a value until the token's ``exp`` (seconds since the epoch).

    The clock is the caller's, so a verifier with an injected clock expires its cache
    by the same clock it checks ``exp`` with.
    """

    __slots__ = ("_clock", "_data", "_lock", "maxsize")

    def __init__(self, maxsize: int, clock: Callable[[], float]) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self._clock = clock
        self._data: OrderedDict[str, tuple[V, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> V | None:
        """The live value for ``key``, or ``None``; an expired entry is dropped."""
        entry = self._data.get(key)
        if entry is None:
            return None
        if self._clock() < entry[1]:
            # A single C call, atomic under the GIL: the hot path takes no lock. A bare
            # try costs nothing here; contextlib.suppress would double the hit's cost.
            try:  # noqa: SIM105
                self._data.move_to_end(key)
            except KeyError:  # evicted meanwhile; the value is still good
                pass
            return entry[0]
        with self._lock:
            self._data.pop(key, None)
        return None

    def put(self, key: str, value: V, expires_at: float) -> None:
        """Remember ``value`` until ``expires_at``, evicting the least recently used."""
        with self._lock:
            self._data[key] = (value, expires_at)
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)
