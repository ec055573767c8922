"""Container entrypoint: ``python -m services.ops.serve <service>`` runs one of the four
services in this process, so the image has one entrypoint and signals reach the service."""

from __future__ import annotations

import runpy
import sys
from collections.abc import Sequence

__all__ = ["SERVICES", "main"]

SERVICES = ("gateway", "cache", "analysis", "monitor")


def main(argv: Sequence[str]) -> int:
    if len(argv) != 1 or argv[0] not in SERVICES:
        given = " ".join(argv) or "nothing"
        print(f"usage: serve {{{'|'.join(SERVICES)}}} (got {given})", file=sys.stderr)
        return 2
    runpy.run_module(f"services.{argv[0]}", run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
