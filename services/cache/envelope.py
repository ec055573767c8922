"""The bytes a tier stores for one CacheEntry.

Layout: one format byte, then the payload.

    0x01  raw serialized CacheEntry
    0x02  zlib-compressed serialized CacheEntry
    0x03  zstd frame (with its content size) of the serialized CacheEntry

Small entries stay raw (compressing them costs CPU for little gain); entries above
``COMPRESS_THRESHOLD`` are compressed when that actually makes them smaller. Analyses
are mostly prose and similar-project tables, which compress several-fold, so Redis
memory and network time both shrink.

Writers use zstd by default: it packs an analysis as small as zlib does, but
inflating it on every hit costs about half the CPU (~12 against ~25 µs for a 13 KB
entry). Every reader understands all three formats. A release that does not know
0x03 reads it as corrupt, i.e. a miss, so a rolling upgrade from one runs with
``CACHE_COMPRESSION=zlib`` until no such replica is left.
"""

from __future__ import annotations

import zlib
from typing import Literal

import zstandard
from google.protobuf.message import DecodeError

from services.cache.errors import CorruptEntry
from services.common.gen import cache_pb2

__all__ = ["CODECS", "COMPRESS_THRESHOLD", "MAX_DECODED_BYTES", "Codec", "decode", "encode"]

Codec = Literal["zstd", "zlib"]
CODECS: frozenset[str] = frozenset({"zstd", "zlib"})

COMPRESS_THRESHOLD = 2048
# Upper bound on a decompressed entry, so a corrupt or hostile value cannot make
# the service allocate without limit.
MAX_DECODED_BYTES = 64 * 1024 * 1024

_RAW = b"\x01"
_ZLIB = b"\x02"
_ZSTD = b"\x03"
# Level 6 compresses typical analyses well in well under a millisecond.
_ZLIB_LEVEL = 6
# zstd's default level: within 2 % of level 6's size at a third of its time.
_ZSTD_LEVEL = 3
# One of each for the process: the service runs on one event loop thread, and
# building a (de)compressor allocates its working memory.
_ZSTD_COMPRESSOR = zstandard.ZstdCompressor(level=_ZSTD_LEVEL, write_content_size=True)
_ZSTD_DECOMPRESSOR = zstandard.ZstdDecompressor()


def encode(entry: cache_pb2.CacheEntry, codec: Codec = "zstd") -> bytes:
    payload: bytes = entry.SerializeToString()
    if len(payload) > COMPRESS_THRESHOLD:
        if codec == "zstd":
            marker, packed = _ZSTD, _ZSTD_COMPRESSOR.compress(payload)
        else:
            marker, packed = _ZLIB, zlib.compress(payload, _ZLIB_LEVEL)
        if len(packed) < len(payload):
            return marker + packed
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


def _unzstd(packed: bytes) -> bytes:
    try:
        size = zstandard.frame_content_size(packed)
    except zstandard.ZstdError as exc:
        raise CorruptEntry(f"cache entry is not a zstd frame: {exc}") from exc
    if size < 0:  # our writer always records it; a frame without it is not ours
        raise CorruptEntry("cache entry's zstd frame does not state its size")
    if size > MAX_DECODED_BYTES:
        raise CorruptEntry(f"cache entry decompresses to more than {MAX_DECODED_BYTES} bytes")
    try:
        payload: bytes = _ZSTD_DECOMPRESSOR.decompress(packed)
    except zstandard.ZstdError as exc:
        raise CorruptEntry(f"cache entry does not decompress: {exc}") from exc
    return payload


def decode(data: bytes, into: cache_pb2.CacheEntry | None = None) -> cache_pb2.CacheEntry:
    """The entry in ``data`` (parsed into ``into`` when given, replacing its contents);
    raises CorruptEntry for anything that is not one."""
    marker, body = data[:1], data[1:]
    if marker == _RAW:
        payload = body
    elif marker == _ZSTD:
        payload = _unzstd(body)
    elif marker == _ZLIB:
        payload = _inflate(body)
    else:
        raise CorruptEntry(f"unknown cache entry format {marker!r}")
    entry = cache_pb2.CacheEntry() if into is None else into
    try:
        entry.ParseFromString(payload)
    except DecodeError as exc:
        raise CorruptEntry(f"cache entry does not parse: {exc}") from exc
    return entry
