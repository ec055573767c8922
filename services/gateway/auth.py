"""API-key authentication. The caller's identity comes from its key alone, never from
a header it can choose."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from services.common.errors import Unauthenticated
from services.common.settings import SettingsError

__all__ = ["KeyRing", "ensure_key_file", "load_keyring"]


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


@dataclass(frozen=True)
class KeyRing:
    """Maps the SHA-256 of each key to its client id; keys themselves are not kept."""

    clients_by_digest: dict[bytes, str]

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> KeyRing:
        return cls({_digest(key): client for client, key in pairs})

    def authenticate(self, metadata: Sequence[tuple[str, str | bytes]] | None) -> str:
        """The client id for the request's ``authorization: Bearer <key>``."""
        header = next(
            (v for k, v in metadata or () if k == "authorization" and isinstance(v, str)), None
        )
        if header is None:
            raise Unauthenticated("missing 'authorization: Bearer <api key>' metadata")
        scheme, _, key = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Unauthenticated("authorization metadata must be 'Bearer <api key>'")
        digest = _digest(key.strip())
        # Compare against every digest so timing does not reveal which prefix matched.
        client = None
        for known, name in self.clients_by_digest.items():
            if hmac.compare_digest(known, digest):
                client = name
        if client is None:
            raise Unauthenticated("unknown API key")
        return client


def parse_keys(spec: str) -> list[tuple[str, str]]:
    """``client=key,client2=key2``; a bare key gets a client id derived from it."""
    pairs = []
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        client, sep, key = item.partition("=")
        if not sep:
            client, key = f"key-{hashlib.sha256(item.encode()).hexdigest()[:8]}", item
        if not client.strip() or len(key.strip()) < 16:
            raise SettingsError(
                "GATEWAY_API_KEYS entries must be client=key with keys of 16+ characters"
            )
        pairs.append((client.strip(), key.strip()))
    return pairs


def ensure_key_file(path: Path) -> str:
    """The local key, generated on first use and stored with mode 0600."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    tmp = path.with_suffix(".tmp")
    tmp.touch(mode=0o600)
    tmp.write_text(key + "\n")
    tmp.replace(path)
    return key


def load_keyring(api_keys: str, key_file: Path) -> KeyRing:
    if api_keys:
        return KeyRing.from_pairs(parse_keys(api_keys))
    if not key_file.exists():
        raise SettingsError(
            f"no API keys: set GATEWAY_API_KEYS or create {key_file} (make up does)"
        )
    return KeyRing.from_pairs([("local", key_file.read_text().strip())])
