"""How many of a store's passages each search term matches, kept between searches.

:func:`~taskra_core.knowledge.search.selective_terms` asks the index for only the rarer
words of a message, and counting each word's matches is the costliest statement of a
search in a big catalogue (several milliseconds on SQLite). Customers of one store use the
same few thousand words, and a word's count moves only when the catalogue does, so counts
are kept for a while (:data:`TTL_SECONDS`) rather than counted for every message.

A count only chooses which words the index ranks; the results still come from the index
and its store filter. A catalogue change is seen at once in the process that made it (the
importer and the Shopify sync call :meth:`TermCounts.forget`) and within the TTL elsewhere;
until then a search may rank a word that became common, or leave out one that became rare
(it still counts when the candidates are re-ranked).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from cachetools import TTLCache

TTL_SECONDS = 300.0
MAX_ENTRIES = 100_000
# The key of a store's own entry: whether it is big enough for words to be chosen at all.
# No term is empty, so it cannot collide with one.
_STORE = ""
SMALL = -1


class TermCounts:
    """Counts by (store id, term), each dropped :data:`TTL_SECONDS` after it was counted;
    the oldest go first beyond :data:`MAX_ENTRIES`. One per :class:`~taskra_core.app.Taskra`
    (``taskra.knowledge.term_counts``); not shared between processes."""

    def __init__(
        self,
        *,
        ttl: float = TTL_SECONDS,
        size: int = MAX_ENTRIES,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._counts: TTLCache[tuple[int, str], int] = TTLCache(size, ttl, timer)

    def store_is_small(self, store_id: int) -> bool | None:
        """Whether the store was too small to need counting; None if not known now."""
        known = self._counts.get((store_id, _STORE))
        return None if known is None else known == SMALL

    def known(self, store_id: int, terms: Iterable[str]) -> dict[str, int]:
        """The counts still kept for ``terms`` of the store."""
        found = {}
        for term in terms:
            count = self._counts.get((store_id, term))
            if count is not None:
                found[term] = count
        return found

    def remember(self, store_id: int, small: bool, counts: dict[str, int]) -> None:
        self._counts[(store_id, _STORE)] = SMALL if small else 0
        for term, count in counts.items():
            self._counts[(store_id, term)] = count

    def forget(self, store_id: int) -> None:
        """Drop what is kept for the store (its catalogue just changed in this process)."""
        for key in [key for key in self._counts if key[0] == store_id]:
            self._counts.pop(key, None)
