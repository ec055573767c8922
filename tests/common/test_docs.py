"""Every environment variable the code reads is documented for users."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_READS = re.compile(
    r"""env_(?:str|int|float|bool|choice)\(\s*environ,\s*"([A-Z][A-Z0-9_]+)"|"""
    r"""environ(?:\.get)?[(\[]\s*"([A-Z][A-Z0-9_]+)\""""
)


def _variables_read() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "services").rglob("*.py"):
        if "gen" in path.parts:
            continue
        for match in _READS.finditer(path.read_text()):
            found.add(match.group(1) or match.group(2))
    return found


def _documentation() -> str:
    docs = [ROOT / "README.md", ROOT / "deploy" / "README.md", *(ROOT / "docs").glob("*.md")]
    return "\n".join(p.read_text() for p in docs)


def test_the_scan_finds_the_variables_it_should() -> None:
    read = _variables_read()
    assert {"GATEWAY_API_KEYS", "REDIS_URL", "OPPSUITE_PROVIDER", "RATE_LIMIT_PER_MINUTE"} <= read


def test_every_variable_read_is_documented() -> None:
    documentation = _documentation()
    undocumented = sorted(v for v in _variables_read() if v not in documentation)
    assert undocumented == []
