"""Deployment artifact sizes (unzipped) and whether their bytecode is precompiled for the runtime.

Every artifact is built exactly as ``make synth`` builds it: the layers with
``infra.packaging.build_layer`` (pip for the Lambda platform, pruned, precompiled), cached under
``cdk.out/bench-layers/<asset hash>``; the code asset with ``infra.packaging.build_code_asset``
(``FUNCTION_ASSET_INCLUDE``: functions/ and the ASL files, precompiled), rebuilt on every run.
"Precompiled" is read from the files, not inferred from the build: a module counts when its
``__pycache__/<name>.cpython-314.pyc`` exists and its header carries the runtime's magic number.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.report import Measurement
from functions.registry import ROOT
from infra import packaging

MAX_NON_LLM_MB = 30.0
MIB = 1024 * 1024
CACHE_DIR = ROOT / "cdk.out" / "bench-layers"
#: Missing modules named in a row's note (the rest are counted).
NAMED_MISSING = 3


def tree_bytes(files: list[Path]) -> int:
    return sum(path.stat().st_size for path in files)


def _all_files(directory: Path) -> list[Path]:
    return [path for path in directory.rglob("*") if path.is_file()]


@dataclass(frozen=True)
class Bytecode:
    """Which ``.py`` files of an artifact have bytecode the runtime will load."""

    modules: int  # .py files
    compiled: int  # of those, with a .pyc for the runtime (cache tag and magic number checked)
    unchecked: int  # of the compiled, hash-based and never re-validated (PEP 552)
    missing: tuple[str, ...]  # relative paths of the .py files without one

    @property
    def share(self) -> float:
        return self.compiled / self.modules * 100 if self.modules else 0.0


def runtime_magic() -> bytes:
    """The first four bytes of a ``.pyc`` written by the runtime's Python (``b'+\\x0e\\r\\n'`` for 3.14)."""
    return packaging.PYC_MAGIC[packaging.runtime_python_version()].to_bytes(2, "little") + b"\r\n"


def bytecode_census(directory: Path) -> Bytecode:
    """Read the header of each module's ``__pycache__/<stem>.cpython-<runtime>.pyc``."""
    tag = f"cpython-{packaging.runtime_python_version().replace('.', '')}"
    magic = runtime_magic()
    compiled = unchecked = 0
    missing = []
    for source in sorted(directory.rglob("*.py")):
        pyc = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
        header = pyc.read_bytes()[:8] if pyc.is_file() else b""
        if header[:4] != magic:
            missing.append(str(source.relative_to(directory)))
            continue
        compiled += 1
        unchecked += int.from_bytes(header[4:8], "little") == packaging.UNCHECKED_HASH_FLAGS
    return Bytecode(compiled + len(missing), compiled, unchecked, tuple(missing))


@dataclass(frozen=True)
class Artifact:
    name: str
    directory: Path
    size: int
    bytecode: Bytecode


def _artifact(name: str, directory: Path) -> Artifact:
    return Artifact(name, directory, tree_bytes(_all_files(directory)), bytecode_census(directory))


def build_layer(name: str, packages: tuple[str, ...], exclude: tuple[str, ...]) -> Artifact:
    """The layer as deployed (cached by its asset hash; pip reaches the package registry once)."""
    directory = CACHE_DIR / packaging.layer_asset_hash(name, packages, exclude) / "python"
    if not directory.is_dir():
        staging = directory.with_name("python.partial")
        shutil.rmtree(staging, ignore_errors=True)
        packaging.build_layer(staging, packages, exclude)
        staging.rename(directory)
    return _artifact(f"{name.lower()} layer", directory)


def _bytecode_row(artifact: Artifact, why_not: str) -> Measurement:
    version = packaging.runtime_python_version()
    code = artifact.bytecode
    if code.missing:
        named = ", ".join(code.missing[:NAMED_MISSING])
        more = f" and {len(code.missing) - NAMED_MISSING} more" if len(code.missing) > NAMED_MISSING else ""
        every = f"{len(code.missing)} without one ({named}{more})"
    else:
        every = "every .py has its .pyc"
    return Measurement(
        "artifacts",
        f"{artifact.name} modules precompiled for Python {version}",
        code.share,
        "%",
        target=100.0,
        comparison=">=",
        note=(
            f"{code.compiled} of {code.modules} .py files have a .pyc with magic "
            f"{packaging.PYC_MAGIC[version]} ({code.unchecked} unchecked-hash); {every}; {why_not}"
        ),
    )


def measure() -> list[Measurement]:
    base = build_layer("Base", packaging.BASE_PACKAGES, ())
    llm = build_layer("Llm", packaging.LLM_PACKAGES, packaging.BASE_PACKAGES)
    precompiler = packaging.find_precompiler()
    why_not = (
        f"compiled by {precompiler.identity}"
        if precompiler
        else f"no Python {packaging.runtime_python_version()} here (set {packaging.RUNTIME_PYTHON_ENV}"
        " or run `make py314`); bytecode of another version would be ignored"
    )
    with tempfile.TemporaryDirectory(prefix="stepwise-code-asset-") as scratch:
        packaging.build_code_asset(Path(scratch))
        code = _artifact("code asset", Path(scratch))
    section = "artifacts"
    rows = [
        Measurement(
            section,
            "code asset (functions/ + bytecode, unzipped)",
            code.size / MIB,
            "MiB",
            note="shared by every step",
        ),
        Measurement(section, "base layer (unzipped)", base.size / MIB, "MiB", note="Powertools, pydantic"),
        Measurement(
            section, "llm layer (unzipped)", llm.size / MIB, "MiB", note="anthropic and what it adds"
        ),
        Measurement(
            section,
            "non-LLM step: code + base layer",
            (code.size + base.size) / MIB,
            "MiB",
            target=MAX_NON_LLM_MB,
            note="+ boto3 from the runtime",
        ),
        Measurement(
            section,
            "LLM step: code + base + llm layers",
            (code.size + base.size + llm.size) / MIB,
            "MiB",
            note="Lambda's limit is 250 MB unzipped",
        ),
    ]
    rows += [_bytecode_row(artifact, why_not) for artifact in (code, base, llm)]
    return rows
