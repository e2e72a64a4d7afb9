"""``python -m local.openapi``: print, export (``--write``) or check (``--check``) ``docs/openapi.json``.

The document is generated from the API's routes and models (``functions/api/openapi.py``); the
exported copy is what people and client generators read without running anything, so a test
fails when it is stale (``make openapi`` rewrites it).
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from functions.api.openapi import document_json
from functions.registry import ROOT

EXPORTED = ROOT / "docs" / "openapi.json"


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.openapi", description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="write docs/openapi.json")
    mode.add_argument("--check", action="store_true", help="exit 1 if the exported copy is stale")
    args = parser.parse_args(argv)
    current = document_json()
    shown = EXPORTED.relative_to(ROOT) if EXPORTED.is_relative_to(ROOT) else EXPORTED
    if args.write:
        EXPORTED.write_text(current, encoding="utf-8")
        print(f"wrote {shown}", file=out)
    elif args.check:
        if not EXPORTED.is_file() or EXPORTED.read_text(encoding="utf-8") != current:
            print(f"{shown} is stale: run `make openapi`", file=out)
            return 1
        print(f"{shown} is current", file=out)
    else:
        out.write(current)
    return 0


if __name__ == "__main__":
    sys.exit(main())
