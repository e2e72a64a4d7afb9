"""Layer bytecode: compiled by an interpreter of the Lambda runtime's version, or not at all.

The build machine's Python is not the runtime's, so the tests stand this interpreter in for "the
runtime's version" (monkeypatched) to check what a layer gets when such an interpreter exists, and
stand-in executables for ``python3.14`` and ``node`` to check which precompiler is chosen (the real
pyodide driver is exercised in ``test_py314_compileall.py``).
"""

from __future__ import annotations

import marshal
import shutil
import sys
from pathlib import Path

import pytest

from infra import packaging

THIS_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
PYC_HEADER_BYTES = 16
HASH_BASED_UNCHECKED = 0b01  # PEP 552 flags: hash-based, do not check the source


@pytest.fixture
def layer(tmp_path: Path) -> Path:
    package = tmp_path / "python" / "vendored"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "core.py").write_text("def answer() -> int:\n    return 42\n", encoding="utf-8")
    return tmp_path / "python"


def test_with_an_interpreter_of_the_runtime_version_every_module_gets_unchecked_bytecode(
    layer: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an interpreter whose version is (made to be) the runtime's
    monkeypatch.setattr(packaging, "runtime_python_version", lambda: THIS_VERSION)
    monkeypatch.setenv(packaging.RUNTIME_PYTHON_ENV, sys.executable)

    # When the layer is precompiled
    compiled = packaging.precompile(layer)

    # Then each module has a .pyc for that version, hash-based and never re-validated against
    # the source (the layer is immutable), naming the path Lambda mounts it at
    assert compiled is True
    tag = sys.implementation.cache_tag
    pyc = layer / "vendored" / "__pycache__" / f"core.{tag}.pyc"
    assert pyc.exists()
    assert (layer / "vendored" / "__pycache__" / f"__init__.{tag}.pyc").exists()
    data = pyc.read_bytes()
    assert int.from_bytes(data[4:8], "little") == HASH_BASED_UNCHECKED
    code = marshal.loads(data[PYC_HEADER_BYTES:])  # noqa: S302 - bytecode this test just compiled
    assert code.co_filename == f"{packaging.LAYER_MOUNT}/vendored/core.py"


def test_without_one_the_layer_ships_source_only_rather_than_useless_bytecode(
    layer: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given only interpreters of another version than the runtime's
    monkeypatch.setattr(packaging, "runtime_python_version", lambda: "3.99")
    monkeypatch.setenv(packaging.RUNTIME_PYTHON_ENV, sys.executable)

    # When the layer is precompiled
    compiled = packaging.precompile(layer)

    # Then nothing is compiled, and the asset hash says the layer is source-only
    assert compiled is False
    assert packaging.find_runtime_python() is None
    assert list(layer.rglob("*.pyc")) == []
    monkeypatch.setattr(packaging, "runtime_python_version", lambda: THIS_VERSION)
    with_bytecode = packaging.layer_asset_hash("Base", packaging.BASE_PACKAGES, ())
    monkeypatch.setattr(packaging, "runtime_python_version", lambda: "3.99")
    assert packaging.layer_asset_hash("Base", packaging.BASE_PACKAGES, ()) != with_bytecode


# --- which precompiler: native python3.14 > pyodide under node > none ------------------------------


def _executable(path: Path, script: str) -> Path:
    path.write_text(f"#!/bin/sh\n{script}\n", encoding="utf-8")
    path.chmod(0o755)
    return path


@pytest.fixture
def build_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH with only a ``node`` stand-in, and an installed pyodide 314 (its manifest and driver)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _executable(bin_dir / "node", "exit 0")
    tool = tmp_path / "py314"
    (tool / "node_modules" / "pyodide").mkdir(parents=True)
    (tool / "node_modules" / "pyodide" / "package.json").write_text(
        '{"version": "314.0.7"}', encoding="utf-8"
    )
    (tool / packaging.PYODIDE_DRIVER).write_text("// driver v1\n", encoding="utf-8")
    monkeypatch.setattr(packaging, "PY314_DIR", tool)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv(packaging.RUNTIME_PYTHON_ENV, raising=False)
    return bin_dir


def test_a_native_python_of_the_runtime_version_is_preferred_to_pyodide(build_machine: Path) -> None:
    # Given python3.14 on PATH (a stand-in answering the version probe) and pyodide installed
    python = _executable(build_machine / "python3.14", "echo 3.14; echo 3.14.0 magic 2b0e0d0a")

    # When the precompiler is chosen
    precompiler = packaging.find_precompiler()

    # Then it is the native interpreter, running compileall with unchecked-hash for the mount
    assert precompiler is not None
    assert precompiler.kind == "native"
    assert precompiler.executable == str(python)
    assert precompiler.identity.startswith("native 3.14.0 magic 2b0e0d0a ")
    command = precompiler.command(Path("/build/python"), packaging.LAYER_MOUNT)
    assert command[:3] == [str(python), "-m", "compileall"]
    assert command[command.index("--invalidation-mode") + 1] == "unchecked-hash"
    assert command[command.index("-p") + 1] == packaging.LAYER_MOUNT


def test_without_one_pyodides_cpython_314_under_node_precompiles(build_machine: Path) -> None:
    # Given no python3.14 but node and pyodide 314
    # When the precompiler is chosen
    precompiler = packaging.find_precompiler()

    # Then it is node running the pinned driver on "<dir>=<where Lambda puts it>"
    assert precompiler is not None
    assert precompiler.kind == "pyodide"
    assert precompiler.executable == str(build_machine / "node")
    assert precompiler.identity.startswith("pyodide 314.0.7 driver ")
    assert precompiler.command(Path("/build/asset"), packaging.CODE_MOUNT) == [
        str(build_machine / "node"),
        str(packaging.PY314_DIR / packaging.PYODIDE_DRIVER),
        f"/build/asset={packaging.CODE_MOUNT}",
    ]


def test_a_pyodide_of_another_python_version_is_not_used(build_machine: Path) -> None:
    manifest = packaging.PY314_DIR / "node_modules" / "pyodide" / "package.json"
    manifest.write_text('{"version": "313.0.1"}', encoding="utf-8")
    assert packaging.find_precompiler() is None


def test_with_neither_the_artifacts_ship_source_only(build_machine: Path, layer: Path) -> None:
    # Given no python3.14 and no pyodide installed (make py314 did not run or had no npm)
    shutil.rmtree(packaging.PY314_DIR / "node_modules")

    # When the layer is precompiled
    compiled = packaging.precompile(layer)

    # Then it ships source only, and its hash says so
    assert compiled is False
    assert packaging.find_precompiler() is None
    assert list(layer.rglob("*.pyc")) == []
    assert packaging.bytecode_identity() == "source-only"


def test_the_layer_hash_changes_with_the_compiler_and_its_driver(build_machine: Path) -> None:
    def base_hash() -> str:
        return packaging.layer_asset_hash("Base", packaging.BASE_PACKAGES, ())

    # pyodide, then pyodide with an edited driver, then a native python3.14, then nothing
    with_pyodide = base_hash()
    (packaging.PY314_DIR / packaging.PYODIDE_DRIVER).write_text("// driver v2\n", encoding="utf-8")
    with_new_driver = base_hash()
    python = _executable(build_machine / "python3.14", "echo 3.14; echo 3.14.0 magic 2b0e0d0a")
    with_native = base_hash()
    python.unlink()
    shutil.rmtree(packaging.PY314_DIR / "node_modules")
    source_only = base_hash()

    assert len({with_pyodide, with_new_driver, with_native, source_only}) == 4
    assert base_hash() == source_only  # and it is stable for the same inputs
