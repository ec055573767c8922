from __future__ import annotations

import pytest

from services.common.settings import CommonSettings, SettingsError, env_bool, env_int


def test_defaults_apply_when_unset() -> None:
    common = CommonSettings.from_env({}, "GATEWAY", 50051, 9101)
    assert (common.host, common.port, common.metrics_port) == ("127.0.0.1", 50051, 9101)
    assert common.monitor_address == "127.0.0.1:50054"


def test_values_are_read_from_the_mapping() -> None:
    common = CommonSettings.from_env(
        {"CACHE_PORT": "6000", "CACHE_METRICS_PORT": "-1", "LOG_LEVEL": "debug"},
        "CACHE",
        50052,
        9102,
    )
    assert (common.port, common.metrics_port, common.log_level) == (6000, -1, "DEBUG")


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"GATEWAY_PORT": "http"}, "GATEWAY_PORT must be an integer"),
        ({"GATEWAY_PORT": "70000"}, "GATEWAY_PORT must be <= 65535"),
        ({"SHUTDOWN_GRACE_SECONDS": "-1"}, "SHUTDOWN_GRACE_SECONDS must be >= 0"),
    ],
)
def test_bad_values_fail_naming_the_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        CommonSettings.from_env(environ, "GATEWAY", 50051, 9101)


def test_booleans_accept_the_usual_spellings() -> None:
    assert env_bool({"X": "yes"}, "X", False) is True
    assert env_bool({"X": "0"}, "X", True) is False
    with pytest.raises(SettingsError, match="X must be true or false"):
        env_bool({"X": "maybe"}, "X", True)


def test_blank_means_default() -> None:
    assert env_int({"X": "  "}, "X", 5) == 5
