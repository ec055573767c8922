from __future__ import annotations

import stat
from pathlib import Path

import pytest

from services.common.errors import Unauthenticated
from services.common.settings import SettingsError
from services.gateway.auth import KeyRing, ensure_key_file, load_keyring, parse_keys

KEY_A = "a" * 24
KEY_B = "b" * 24


def ring() -> KeyRing:
    return KeyRing.from_pairs(parse_keys(f"crm={KEY_A},dashboard={KEY_B}"))


def test_the_client_id_comes_from_the_key() -> None:
    assert ring().authenticate([("authorization", f"Bearer {KEY_A}")]) == "crm"
    assert ring().authenticate([("authorization", f"bearer {KEY_B}")]) == "dashboard"


def test_headers_claiming_another_identity_change_nothing() -> None:
    metadata = [("x-client-id", "dashboard"), ("authorization", f"Bearer {KEY_A}")]
    assert ring().authenticate(metadata) == "crm"


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ([], "missing"),
        ([("authorization", KEY_A)], "Bearer"),
        ([("authorization", "Basic abc")], "Bearer"),
        ([("authorization", "Bearer ")], "Bearer"),
        ([("authorization", "Bearer wrong-key-wrong-key")], "unknown API key"),
    ],
)
def test_missing_or_wrong_keys_are_unauthenticated(
    metadata: list[tuple[str, str]], message: str
) -> None:
    with pytest.raises(Unauthenticated, match=message):
        ring().authenticate(metadata)


def test_short_keys_are_refused_at_start() -> None:
    with pytest.raises(SettingsError, match="GATEWAY_API_KEYS"):
        parse_keys("crm=short")


def test_a_bare_key_gets_a_stable_client_id() -> None:
    [(client, key)] = parse_keys(KEY_A)
    assert key == KEY_A and client.startswith("key-")
    assert parse_keys(KEY_A) == [(client, key)]


def test_key_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / ".oppsuite" / "api-key"
    key = ensure_key_file(path)
    assert len(key) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ensure_key_file(path) == key
    assert load_keyring("", path).authenticate([("authorization", f"Bearer {key}")]) == "local"


def test_no_keys_at_all_fails_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="GATEWAY_API_KEYS"):
        load_keyring("", tmp_path / "missing")
