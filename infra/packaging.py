"""Deployment artifacts built locally (no Docker): the dependency layers and the step-code asset.

Two layers, so a step that does not call the LLM never carries ``anthropic``:
- ``base``: Powertools (parser, tracer), pydantic, pydantic-settings — every step;
- ``llm``: ``anthropic`` and what it needs beyond ``base`` — only steps with ``Resource.LLM``.

Both are installed with ``pip install --platform manylinux2014_aarch64 --only-binary=:all:`` for
the Lambda runtime's Python, pinned by ``requirements.txt`` (used as constraints). Packages the
Lambda runtime already ships (boto3, botocore and their dependencies) are pruned: they are most of
the size and would shadow the runtime's patched copies. The code asset is what
``constants.FUNCTION_ASSET_INCLUDE`` names (``functions/`` and ``statemachines/*.asl.json``) and
nothing else. Bundling runs at ``make synth`` / ``cdk deploy``; tests skip it (context
``aws:cdk:bundling-stacks = []``).

Bytecode: ``/opt`` and ``/var/task`` are read-only on Lambda, so an artifact without ``.pyc`` files
is compiled from source on every cold start. Every artifact is precompiled by an interpreter of the
*runtime's* version (a ``.pyc`` carries its Python version's magic number; 3.11 bytecode is ignored
by 3.14), in this order (:func:`find_precompiler`):

1. a native one: ``$STEPWISE_LAMBDA_PYTHON`` or ``python3.14`` on ``PATH``;
2. CPython 3.14 built for WebAssembly (pyodide, pinned in ``tools/py314/``, installed by
   ``make py314``), run by node through ``tools/py314/compileall.mjs``. Bytecode does not depend
   on the platform, only on the interpreter version, so its ``.pyc`` files are the ones Lambda's
   python3.14 would write;
3. none: the artifacts ship source only and say so (``make bench`` reports a miss) rather than
   shipping bytecode Lambda cannot use.

Any file that does not compile fails the build (no silently partial bytecode). None of the layers'
modules fails today; a dependency that ships such a file (say, Python 2 test code) would need it
pruned in ``_prune`` (the runtime could not import it either), never a silent skip.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, IgnoreMode, ILocalBundling, RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from functions.registry import ROOT
from infra.constants import FUNCTION_ASSET_INCLUDE, FUNCTION_ASSET_NEVER

RUNTIME: Final = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE: Final = lambda_.Architecture.ARM_64
PLATFORM: Final = "manylinux2014_aarch64"
REQUIREMENTS: Final = ROOT / "requirements.txt"

BASE_PACKAGES: Final = ("aws-lambda-powertools[parser,tracer]", "pydantic", "pydantic-settings")
LLM_PACKAGES: Final = ("anthropic",)
#: Shipped by the Lambda Python runtime; pruned from the layers.
RUNTIME_PROVIDED: Final = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "python_dateutil", "six", "urllib3", "bin"}
)
#: An interpreter of the runtime's Python version, for precompiling the layers' bytecode.
RUNTIME_PYTHON_ENV: Final = "STEPWISE_LAMBDA_PYTHON"
#: Where Lambda mounts a layer's ``python/`` folder (recorded in the bytecode for tracebacks).
LAYER_MOUNT: Final = "/opt/python"
#: Where Lambda unpacks the function's code asset.
CODE_MOUNT: Final = "/var/task"
#: The ``.pyc`` magic number of each runtime version (the first two header bytes, little-endian).
#: 3627 is CPython 3.14 final: Include/internal/pycore_magic_number.h lists "Python 3.14rc3 3627" as
#: the last 3.14 entry before "Python 3.15a0 3650".
PYC_MAGIC: Final[dict[str, int]] = {"3.14": 3627}
#: PEP 552 header flags: hash-based, never checked against the source.
UNCHECKED_HASH_FLAGS: Final = 0b01
#: The pinned pyodide (CPython for WebAssembly) and the node driver that compiles with it.
PY314_DIR: Final = ROOT / "tools" / "py314"
PYODIDE_DRIVER: Final = "compileall.mjs"
#: ``python3.14 -m compileall`` with these, quiet and on every core (the pyodide driver does the same).
NATIVE_COMPILEALL: Final = ("-m", "compileall", "-q", "-j0", "--invalidation-mode", "unchecked-hash")

log = logging.getLogger(__name__)


def _pinned_versions() -> dict[str, str]:
    """Package name → the exact version pinned in requirements.txt."""
    versions = {}
    for raw in REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        requirement = raw.split("#", 1)[0].strip()
        if "==" in requirement:
            name, version = requirement.split("==", 1)
            versions[name.split("[", 1)[0].strip().lower()] = version.strip()
    return versions


def requirement_lines(packages: tuple[str, ...]) -> list[str]:
    """``pkg[extra]`` → ``pkg[extra]==<pinned version>``; an unpinned package is an error."""
    versions = _pinned_versions()
    lines = []
    for package in packages:
        name = package.split("[", 1)[0].lower()
        if name not in versions:
            raise KeyError(f"{package} is not pinned in {REQUIREMENTS.name}")
        lines.append(f"{package}=={versions[name]}")
    return lines


def pip_install(target: Path, packages: tuple[str, ...]) -> None:
    python_version = runtime_python_version()
    with tempfile.TemporaryDirectory() as scratch:
        # pip constraints take plain "name==version" lines (no extras), so they are derived.
        constraints = Path(scratch) / "constraints.txt"
        constraints.write_text(
            "".join(f"{n}=={v}\n" for n, v in _pinned_versions().items()), encoding="utf-8"
        )
        subprocess.run(  # noqa: S603 - fixed arguments, our own pins
            [
                sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                "--no-compile",
                "--platform", PLATFORM, "--only-binary=:all:", "--implementation", "cp",
                "--python-version", python_version, "--constraint", str(constraints),
                "--target", str(target), *requirement_lines(packages),
            ],
            check=True,
        )  # fmt: skip


def _top_level(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()} if directory.is_dir() else set()


def _prune(directory: Path, names: set[str]) -> None:
    for entry in list(directory.iterdir()):
        stem = (
            entry.name.split("-", 1)[0]
            if entry.name.endswith(".dist-info")
            else entry.name.removesuffix(".py")
        )
        if entry.name in names or stem.lower() in RUNTIME_PROVIDED or entry.name == "__pycache__":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def runtime_python_version() -> str:
    """``"3.14"`` for ``python3.14``."""
    return RUNTIME.name.removeprefix("python")


def _probe_python(candidate: str) -> tuple[str, str] | None:
    """``("3.14", "3.14.2 magic 2b0e0d0a")``: the version and what identifies its bytecode."""
    probe = subprocess.run(  # noqa: S603 - an interpreter path we were given or found on PATH
        [
            candidate, "-c",
            "import sys, importlib.util; print(f'{sys.version_info[0]}.{sys.version_info[1]}');"
            " print(sys.version.split()[0], 'magic', importlib.util.MAGIC_NUMBER.hex())",
        ],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    lines = probe.stdout.splitlines()
    if probe.returncode != 0 or len(lines) < 2:
        return None
    return lines[0].strip(), lines[1].strip()


def find_runtime_python() -> str | None:
    """A native interpreter whose version is the Lambda runtime's, or ``None`` when this machine has none."""
    wanted = runtime_python_version()
    for candidate in (os.environ.get(RUNTIME_PYTHON_ENV), shutil.which(f"python{wanted}")):
        if not candidate:
            continue
        probed = _probe_python(candidate)
        if probed is not None and probed[0] == wanted:
            return candidate
    return None


def pyodide_version(tool_dir: Path | None = None) -> str | None:
    """The installed pyodide's version (``"314.0.7"``), or ``None`` when ``make py314`` has not run."""
    manifest = (tool_dir or PY314_DIR) / "node_modules" / "pyodide" / "package.json"
    if not manifest.is_file():
        return None
    version = json.loads(manifest.read_text(encoding="utf-8")).get("version")
    return version if isinstance(version, str) else None


@dataclass(frozen=True)
class Precompiler:
    """An interpreter of the runtime's version that writes ``.pyc`` files, and what identifies them."""

    kind: Literal["native", "pyodide"]
    #: ``python3.14``, or ``node`` running ``tools/py314/compileall.mjs``.
    executable: str
    #: Goes into the asset hashes: different bytecode may come out when this changes.
    identity: str

    def command(self, target: Path, mount: str) -> list[str]:
        """Compile every module under ``target`` as if it lived at ``mount`` (unchecked-hash pycs)."""
        if self.kind == "native":
            return [self.executable, *NATIVE_COMPILEALL, "-s", str(target), "-p", mount, str(target)]
        return [self.executable, str(PY314_DIR / PYODIDE_DRIVER), f"{target}={mount}"]

    def compile(self, target: Path, mount: str) -> None:
        """Raises ``CalledProcessError`` if any module does not compile."""
        subprocess.run(self.command(target, mount), check=True)  # noqa: S603 - our own fixed arguments


def pyodide_precompiler() -> Precompiler | None:
    """pyodide ``<major><minor>.x`` is CPython ``<major>.<minor>`` (314.0.7 is 3.14.2)."""
    version = pyodide_version()
    node = shutil.which("node")
    driver = PY314_DIR / PYODIDE_DRIVER
    if version is None or node is None or not driver.is_file():
        return None
    if version.split(".", 1)[0] != runtime_python_version().replace(".", ""):
        return None
    driver_digest = hashlib.sha256(driver.read_bytes()).hexdigest()[:16]
    return Precompiler("pyodide", node, f"pyodide {version} driver {driver_digest}")


def find_precompiler() -> Precompiler | None:
    """Native python3.14 if there is one, else pyodide's CPython 3.14 under node, else ``None``."""
    python = find_runtime_python()
    if python is not None:
        probed = _probe_python(python)
        version = probed[1] if probed else python
        return Precompiler("native", python, f"native {version} {' '.join(NATIVE_COMPILEALL)}")
    return pyodide_precompiler()


def precompile(target: Path, mount: str = LAYER_MOUNT) -> bool:
    """Write ``__pycache__/*.cpython-<runtime>.pyc`` next to every module; ``False`` if impossible here.

    ``unchecked-hash``: the artifact is immutable, so the interpreter never needs to stat the source
    to validate the cache (a timestamp pyc would also depend on the mtimes the zip preserves). The
    source path recorded in the bytecode is ``mount``, where Lambda puts the files.
    """
    precompiler = find_precompiler()
    if precompiler is None:
        log.warning(
            "no Python %s interpreter (set %s, or run `make py314` for pyodide): %s ships without bytecode",
            runtime_python_version(),
            RUNTIME_PYTHON_ENV,
            target,
        )
        return False
    precompiler.compile(target, mount)
    return True


def bytecode_identity() -> str:
    """What precompiles the artifacts here (``"source-only"`` when nothing can)."""
    precompiler = find_precompiler()
    return precompiler.identity if precompiler else "source-only"


def build_layer(target: Path, packages: tuple[str, ...], exclude_packages: tuple[str, ...] = ()) -> bool:
    """Install ``packages`` into ``target`` minus what ``exclude_packages`` (another layer) brings,
    then precompile it. Returns whether bytecode was precompiled."""
    pip_install(target, packages)
    shared: set[str] = set()
    if exclude_packages:
        with tempfile.TemporaryDirectory() as scratch:
            pip_install(Path(scratch), exclude_packages)
            shared = _top_level(Path(scratch))
    _prune(target, shared)
    return precompile(target)


#: Set by the as-deployed local runtime's synthesis (``local/assembly.py``): a layer is a marker
#: naming its pinned packages instead of arm64 wheels for Python 3.14, which cannot load on the
#: machine running the tests; the virtualenv, installed from the same pins, stands in for them.
LAYERS_FROM_VENV_ENV: Final = "STEPWISE_LAYERS_FROM_VENV"
#: The marker file such a layer holds (``python/<marker>``: one pinned requirement a line).
VENV_LAYER_MARKER: Final = "STEPWISE_VENV_LAYER.txt"


def layers_from_venv() -> bool:
    return os.environ.get(LAYERS_FROM_VENV_ENV) == "1"


def write_venv_layer_marker(target: Path, packages: tuple[str, ...]) -> None:
    target.mkdir(parents=True, exist_ok=True)
    (target / VENV_LAYER_MARKER).write_text("\n".join(requirement_lines(packages)) + "\n", encoding="utf-8")


def layer_asset_hash(construct_id: str, packages: tuple[str, ...], exclude_packages: tuple[str, ...]) -> str:
    """What is inside a layer: changes exactly when a pin, the platform, the runtime or the bytecode
    (whether it could be precompiled, and by which compiler) does, or when it is a venv marker."""
    identity = [
        construct_id, PLATFORM, RUNTIME.name, bytecode_identity(),
        *requirement_lines(packages + exclude_packages),
        *(["venv-marker"] if layers_from_venv() else []),
    ]  # fmt: skip
    return hashlib.sha256("\n".join(identity).encode()).hexdigest()


@jsii.implements(ILocalBundling)
class _PipBundling:
    """CDK local bundling: ``try_bundle`` fills ``output_dir/python`` with pip (never Docker)."""

    def __init__(self, packages: tuple[str, ...], exclude_packages: tuple[str, ...] = ()) -> None:
        self._packages = packages
        self._exclude_packages = exclude_packages

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_: object) -> bool:
        if layers_from_venv():
            write_venv_layer_marker(Path(output_dir) / "python", self._packages)
            return True
        build_layer(Path(output_dir) / "python", self._packages, self._exclude_packages)
        return True


class DependencyLayers(Construct):
    """The ``base`` and ``llm`` layers, shared by every workflow of the stack."""

    def __init__(self, scope: Construct, construct_id: str, *, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        self.base = self._layer("Base", "Powertools, pydantic", BASE_PACKAGES, (), removal_policy)
        self.llm = self._layer("Llm", "anthropic SDK", LLM_PACKAGES, BASE_PACKAGES, removal_policy)

    def _layer(
        self,
        construct_id: str,
        description: str,
        packages: tuple[str, ...],
        exclude_packages: tuple[str, ...],
        removal_policy: RemovalPolicy,
    ) -> lambda_.LayerVersion:
        # CDK's asset cache cannot tell two local bundlers apart: the hash names what is inside.
        asset_hash = layer_asset_hash(construct_id, packages, exclude_packages)
        return lambda_.LayerVersion(
            self,
            construct_id,
            description=f"stepwise {description} (pinned by requirements.txt)",
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            removal_policy=removal_policy,
            code=lambda_.Code.from_asset(
                str(REQUIREMENTS.parent),
                exclude=["*", f"!{REQUIREMENTS.name}"],
                asset_hash_type=AssetHashType.CUSTOM,
                asset_hash=asset_hash,
                bundling=BundlingOptions(
                    image=RUNTIME.bundling_image,
                    local=_PipBundling(packages, exclude_packages=exclude_packages),
                ),
            ),
        )


def code_asset_ignore() -> list[str]:
    """``FUNCTION_ASSET_INCLUDE`` as the gitignore patterns CDK applies with ``IgnoreMode.GIT``.

    Everything at the root is ignored (``/*``: a leading ``/`` anchors a pattern at the asset root,
    where CDK's default glob mode would match a name at any depth), then each included folder is
    re-included (gitignore cannot re-include a file whose folder stays ignored) and, for a folder
    shipped only in part, everything in it but the files its glob names. ``__pycache__/`` without a
    leading ``/`` matches at any depth. ``tests/infra/test_code_asset.py`` copies a tree with CDK's
    own copier under these patterns and checks it gets exactly :func:`code_asset_files`.
    """
    patterns = ["/*"]
    for folder, glob in FUNCTION_ASSET_INCLUDE:
        patterns.append(f"!/{folder}/")
        if glob != "**":
            patterns += [f"/{folder}/*", f"!/{folder}/{glob}"]
    patterns.append(f"{FUNCTION_ASSET_NEVER}/")
    return patterns


def code_asset_files(root: Path = ROOT) -> list[Path]:
    """The source files the code asset ships (``FUNCTION_ASSET_INCLUDE``), sorted. Only the included
    folders are walked (``cdk.out``, ``.git``, ``node_modules`` hold thousands of files); symlinks
    and ``__pycache__`` are left out."""
    files: list[Path] = []
    for folder, glob in FUNCTION_ASSET_INCLUDE:
        base = root / folder
        if glob != "**":
            files += [p for p in base.glob(glob) if p.is_file() and not p.is_symlink()]
            continue
        for current, dirs, names in os.walk(base):
            here = Path(current)
            dirs[:] = [d for d in dirs if d != FUNCTION_ASSET_NEVER and not (here / d).is_symlink()]
            files += [here / n for n in names if not (here / n).is_symlink()]
    return sorted(files)


def build_code_asset(target: Path, root: Path = ROOT) -> bool:
    """Copy the code asset's files into ``target`` and precompile them for ``/var/task``.
    Returns whether bytecode was precompiled."""
    for source in code_asset_files(root):
        destination = target / source.relative_to(root)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)
    return precompile(target, CODE_MOUNT)


@jsii.implements(ILocalBundling)
class _CodeBundling:
    """CDK local bundling of the code asset: the sources plus their runtime bytecode (never Docker)."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_: object) -> bool:
        build_code_asset(Path(output_dir), self._root)
        return True


def code_asset_hash(root: Path = ROOT) -> str:
    """What is inside the code asset: every shipped file (path and content), the runtime, and what
    compiles its bytecode. The bytecode is a function of exactly these, so the hash changes when it
    does. (Not CDK's ``AssetHashType.OUTPUT``: its fingerprint applies :func:`code_asset_ignore`,
    whose ``__pycache__/`` would leave the bytecode out of the hash.)"""
    digest = hashlib.sha256()
    for line in (RUNTIME.name, CODE_MOUNT, bytecode_identity()):
        digest.update(line.encode() + b"\n")
    for path in code_asset_files(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def code_asset(root: Path = ROOT) -> lambda_.Code:
    """The step functions' code, as every Lambda of the app deploys it (one ``Code`` per stack; CDK
    stages and bundles it once per synth, as the hash is the same)."""
    return lambda_.Code.from_asset(
        str(root),
        exclude=code_asset_ignore(),
        ignore_mode=IgnoreMode.GIT,
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=code_asset_hash(root),
        bundling=BundlingOptions(image=RUNTIME.bundling_image, local=_CodeBundling(root)),
    )
