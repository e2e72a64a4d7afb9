"""Layer bytecode: compiled by an interpreter of the Lambda runtime's version, or not at all.

The build machine's Python is not the runtime's, so the tests stand this interpreter in for "the
runtime's version" (monkeypatched) to check what a layer gets when such an interpreter exists.
"""

from __future__ import annotations

import marshal
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
