"""Generate the one shared protobuf package from protos/ (run by `make protos`).

Output goes to services/common/gen/ with .pyi stubs. protoc writes absolute
imports (`from oppsuite.v1 import types_pb2`); they are rewritten to relative
ones so the package works wherever it is installed.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
OUT = ROOT / "services" / "common" / "gen"
_ABSOLUTE_IMPORT = re.compile(r"^from oppsuite\.v1 import ", re.MULTILINE)


def main() -> int:
    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto"))
    with tempfile.TemporaryDirectory() as tmp:
        include = str(Path(protoc.__file__).parent / "_proto")
        args = [
            "grpc_tools.protoc",
            f"-I{PROTO_ROOT}",
            f"-I{include}",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            f"--grpc_python_out={tmp}",
            *protos,
        ]
        if protoc.main(args) != 0:
            print("protoc failed", file=sys.stderr)
            return 1
        if OUT.exists():
            shutil.rmtree(OUT)
        OUT.mkdir(parents=True)
        generated = Path(tmp) / "oppsuite" / "v1"
        for path in sorted(generated.iterdir()):
            text = _ABSOLUTE_IMPORT.sub("from . import ", path.read_text())
            (OUT / path.name).write_text(text)
    (OUT / "__init__.py").write_text(
        '"""Generated from protos/ by `make protos`; do not edit."""\n'
    )
    (OUT / "py.typed").write_text("")
    print(f"generated {len(protos)} protos into {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
