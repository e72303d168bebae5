"""The answers of the last ``max_entries`` requests, packed: 24 bytes per answer.

An answer is remembered on every request and looked up only when feedback names
it, so this store is built for a cheap write and a fine-if-slower read. Each
answer is one fixed-size record in a ring (a ``bytearray`` that grows to
``max_entries`` records, then overwrites the oldest):

    16 bytes  the request id's digest: Arbiter's own ids (32 lowercase hex
              digits) are their 16 bytes, any other id its BLAKE2b digest
     4 bytes  when it expires, in whole seconds from the ring's creation
     4 bytes  the id of its labels (model, task, caller, deployment)

Labels repeat across requests, so each distinct combination is kept once, in a
table of the ``max_labels`` most recently used; an answer whose labels have left
that table (only with more distinct task labels or keys in use than that) reads
as forgotten, as an evicted one does. A lookup searches the ring for the digest
(``bytearray.find``, a C scan: about 0.4 ms for 100,000 answers).

As Python objects (a dict entry, a tuple, a float, an object and the id string)
an answer took about 330 bytes: 31 MB for the default 100,000.
"""

from __future__ import annotations

import hashlib
import struct
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["AnswerRing", "Labels"]

Labels = tuple[str, str, str, str | None]  # model, task, caller, deployment

_DIGEST = 16
_TAIL = struct.Struct("<II")  # expiry second, labels id
_PACKED = struct.Struct(f"<{_DIGEST}sII")  # a whole record: digest, then the tail
_RECORD = _PACKED.size
_FOREVER = 0xFFFFFFFF  # the largest expiry second a record holds (136 years)


def _digest(request_id: str) -> bytes:
    """Sixteen bytes that stand for a request id. Arbiter's own ids are 16 random and
    counted bytes in lowercase hex: they are their bytes, at half the cost of a hash.
    Any other id (a client's ``x-request-id``) is hashed. The hex test is exact (no
    upper case, no spaces): two ids share bytes only if one is the hex of the other's
    digest, which a client can send only on purpose, as it can resend an id."""
    if len(request_id) == 2 * _DIGEST:
        try:
            raw = bytes.fromhex(request_id)
        except ValueError:
            pass
        else:
            if raw.hex() == request_id:
                return raw
    return hashlib.blake2b(request_id.encode(), digest_size=_DIGEST).digest()


class AnswerRing:
    def __init__(
        self,
        ttl_s: float,
        max_entries: int,
        clock: Callable[[], float],
        *,
        max_labels: int = 4096,
    ) -> None:
        self.ttl_s, self.max_entries, self.max_labels = ttl_s, max_entries, max_labels
        self._clock = clock
        self._epoch = clock()
        self._records = bytearray()
        self._next = 0  # the record to overwrite once the ring is full
        self._label_ids: OrderedDict[Labels, int] = OrderedDict()  # least recently used first
        self._labels: dict[int, Labels] = {}
        self._next_label = 0
        self._last: tuple[Labels | None, int] = (None, 0)  # the latest labels, their id

    def __len__(self) -> int:
        return len(self._records) // _RECORD

    def _second(self, at: float) -> int:
        return min(max(0, int(at - self._epoch)), _FOREVER)

    def _label_id(self, labels: Labels) -> int:
        last, last_id = self._last
        if labels == last:  # most answers repeat the labels before: already most recent
            return last_id
        found = self._label_ids.get(labels)
        if found is not None:
            self._label_ids.move_to_end(labels)
        else:
            if len(self._label_ids) >= self.max_labels:
                _, gone = self._label_ids.popitem(last=False)
                del self._labels[gone]
            found = self._next_label
            self._next_label = (self._next_label + 1) & 0xFFFFFFFF
            self._label_ids[labels] = found
            self._labels[found] = labels
        self._last = (labels, found)
        return found

    def put(self, request_id: str, labels: Labels) -> None:
        # Rounded up: an answer is never forgotten before its TTL, at most a second after.
        # (``_second`` written out, without min and max calls: this runs on every request.)
        second = int(self._clock() + self.ttl_s - self._epoch)
        expires = second + 1 if second > 0 else 1
        if expires > _FOREVER:
            expires = _FOREVER
        digest, label_id = _digest(request_id), self._label_id(labels)
        if len(self._records) < self.max_entries * _RECORD:
            self._records += _PACKED.pack(digest, expires, label_id)
            return
        _PACKED.pack_into(self._records, self._next * _RECORD, digest, expires, label_id)
        self._next = (self._next + 1) % self.max_entries

    def get(self, request_id: str) -> Labels | None:
        """The labels of the latest answer given under ``request_id``, unless it expired."""
        digest, records = _digest(request_id), self._records
        now = self._second(self._clock())
        latest: tuple[int, int] | None = None
        at = records.find(digest)
        while at >= 0:
            if at % _RECORD == 0:  # a match across two records is not one
                expires, label_id = _TAIL.unpack_from(records, at + _DIGEST)
                if latest is None or expires >= latest[0]:
                    latest = (expires, label_id)
            at = records.find(digest, at + 1)
        if latest is None or latest[0] <= now:
            return None
        return self._labels.get(latest[1])
