from __future__ import annotations

import random
import zlib

import pytest
import zstandard

from services.cache import envelope
from services.cache.errors import CorruptEntry
from services.common.gen import cache_pb2, types_pb2

SENTENCES = [
    "The customer runs a nationwide retail network with seasonal peaks in Q4.",
    "Similar migrations in the region moved analytics workloads to managed services.",
    "Compute is sized for the steady state with autoscaling for promotional events.",
    "Data transfer costs dominate during the first three months of the migration.",
    "Security review requires encryption at rest and private connectivity.",
]


def typical_entry(score: int = 85) -> cache_pb2.CacheEntry:
    """An analysis shaped like the real ones: prose sections and similar projects."""
    projects = [
        types_pb2.SimilarProject(
            project_name=f"Project {i}",
            customer=f"Customer {i}",
            industry="Retail",
            region="NAMER",
            close_date=f"2024-0{i % 9 + 1}-15",
            total_mrr_usd=10_000 + i * 731,
            total_arr_usd=(10_000 + i * 731) * 12,
            description=" ".join(SENTENCES[i % 5 :]),
            services=[types_pb2.ServiceCost(name="Amazon EC2", monthly_usd=4000 + i)],
        )
        for i in range(12)
    ]
    prose = " ".join(SENTENCES[i % 5] for i in range(20))
    analysis = types_pb2.Analysis(
        predicted_arr_usd=480_000,
        predicted_mrr_usd=40_000,
        launch_date="2025-11",
        project_duration_months=6,
        confidence=types_pb2.CONFIDENCE_MEDIUM,
        confidence_score=score,
        similar_projects=projects,
        methodology=prose,
        findings=prose,
        rationale=prose,
        risk_factors=prose,
        full_text=prose * 3,
        top_services=[types_pb2.ServiceCost(name="Amazon S3", monthly_usd=1200)],
    )
    return cache_pb2.CacheEntry(
        analysis=analysis,
        sql="SELECT * FROM opportunities LIMIT 200",
        row_count=200,
        compute_ms=8421.5,
        versions="local/a/b/c/d/e/f",
        cost_usd=0.042,
    )


def test_small_entry_is_stored_raw() -> None:
    entry = cache_pb2.CacheEntry(sql="SELECT 1", row_count=1)
    data = envelope.encode(entry)
    assert data[:1] == b"\x01"
    assert data[1:] == entry.SerializeToString()
    assert envelope.decode(data) == entry


@pytest.mark.parametrize(("codec", "marker"), [("zstd", b"\x03"), ("zlib", b"\x02")])
def test_typical_analysis_is_compressed_and_much_smaller(
    codec: envelope.Codec, marker: bytes
) -> None:
    entry = typical_entry()
    raw = entry.SerializeToString()
    data = envelope.encode(entry, codec)
    assert len(raw) > envelope.COMPRESS_THRESHOLD
    assert data[:1] == marker
    assert len(data) < len(raw) * 0.5
    assert envelope.decode(data) == entry


def test_zstd_is_the_default_and_entries_from_zlib_writers_still_read() -> None:
    # A rolling upgrade: replicas writing zlib (older, or CACHE_COMPRESSION=zlib)
    # and replicas writing zstd share one Redis and one table.
    entry = typical_entry()
    assert envelope.encode(entry)[:1] == b"\x03"
    from_zlib_writer = b"\x02" + zlib.compress(entry.SerializeToString(), 6)
    assert envelope.decode(from_zlib_writer) == entry


def test_compression_never_grows_an_entry() -> None:
    # Random text barely compresses; the envelope must then keep the raw form.
    entry = cache_pb2.CacheEntry(sql=random.Random(7).randbytes(4096).hex())
    data = envelope.encode(entry)
    assert envelope.decode(data) == entry
    assert len(data) <= len(entry.SerializeToString()) + 1


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x07" + cache_pb2.CacheEntry(sql="x").SerializeToString(),
        b"\x02not zlib at all",
        b"\x02" + zlib.compress(typical_entry().SerializeToString())[:-20],
        b"\x01\xff\xff\xff",
        b"\x02" + zlib.compress(b"\xff\xff\xff"),
        b"\x03not zstd at all",
        b"\x03" + zstandard.ZstdCompressor().compress(typical_entry().SerializeToString())[:-20],
        b"\x03" + zstandard.ZstdCompressor(write_content_size=False).compress(b"x" * 4096),
        b"\x03" + zstandard.ZstdCompressor().compress(b"\xff\xff\xff"),
    ],
    ids=[
        "empty",
        "unknown-marker",
        "bad-zlib",
        "truncated-zlib",
        "bad-proto",
        "bad-proto-zlib",
        "bad-zstd",
        "truncated-zstd",
        "zstd-without-size",
        "bad-proto-zstd",
    ],
)
def test_corrupt_data_raises_corrupt_entry(data: bytes) -> None:
    with pytest.raises(CorruptEntry):
        envelope.decode(data)


@pytest.mark.parametrize("codec", ["zstd", "zlib"])
def test_decompression_is_bounded(monkeypatch: pytest.MonkeyPatch, codec: envelope.Codec) -> None:
    data = envelope.encode(typical_entry(), codec)
    monkeypatch.setattr(envelope, "MAX_DECODED_BYTES", 1024)
    with pytest.raises(CorruptEntry, match="more than"):
        envelope.decode(data)
