"""The bytes a tier stores for one CacheEntry.

Layout: one format byte, then the payload.

    0x01  raw serialized CacheEntry
    0x02  zlib-compressed serialized CacheEntry

Small entries stay raw (compressing them costs CPU for little gain); entries above
``COMPRESS_THRESHOLD`` are compressed when that actually makes them smaller. Analyses
are mostly prose and similar-project tables, which compress several-fold, so Redis
memory and network time both shrink. The format byte leaves room for new encodings
without a flag day: readers reject what they do not know as corrupt, i.e. a miss.
"""

from __future__ import annotations

import zlib

from google.protobuf.message import DecodeError

from services.cache.errors import CorruptEntry
from services.common.gen import cache_pb2

__all__ = ["COMPRESS_THRESHOLD", "MAX_DECODED_BYTES", "decode", "encode"]

COMPRESS_THRESHOLD = 2048
# Upper bound on a decompressed entry, so a corrupt or hostile value cannot make
# the service allocate without limit.
MAX_DECODED_BYTES = 64 * 1024 * 1024

_RAW = b"\x01"
_ZLIB = b"\x02"
# Level 6 compresses typical analyses well in well under a millisecond.
_LEVEL = 6


def encode(entry: cache_pb2.CacheEntry) -> bytes:
    payload: bytes = entry.SerializeToString()
    if len(payload) > COMPRESS_THRESHOLD:
        packed = zlib.compress(payload, _LEVEL)
        if len(packed) < len(payload):
            return _ZLIB + packed
    return _RAW + payload


def _inflate(packed: bytes) -> bytes:
    inflater = zlib.decompressobj()
    try:
        payload = inflater.decompress(packed, MAX_DECODED_BYTES)
    except zlib.error as exc:
        raise CorruptEntry(f"cache entry does not decompress: {exc}") from exc
    if inflater.unconsumed_tail:
        raise CorruptEntry(f"cache entry decompresses to more than {MAX_DECODED_BYTES} bytes")
    if not inflater.eof:
        raise CorruptEntry("cache entry is truncated")
    return payload


def decode(data: bytes) -> cache_pb2.CacheEntry:
    """The entry in ``data``; raises CorruptEntry for anything that is not one."""
    marker, body = data[:1], data[1:]
    if marker == _RAW:
        payload = body
    elif marker == _ZLIB:
        payload = _inflate(body)
    else:
        raise CorruptEntry(f"unknown cache entry format {marker!r}")
    entry = cache_pb2.CacheEntry()
    try:
        entry.ParseFromString(payload)
    except DecodeError as exc:
        raise CorruptEntry(f"cache entry does not parse: {exc}") from exc
    return entry
