"""The pyodide precompiler: CPython 3.14 (WebAssembly, under node) writes the bytecode Lambda loads.

These tests run the real driver (``tools/py314/compileall.mjs``) and, to show the result is what a
Python 3.14 importer accepts, import the compiled package back in that same interpreter after its
source was changed: an ``unchecked-hash`` .pyc is used without looking at the source.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from infra import packaging

PYC_HEADER_BYTES = 16
CPYTHON_314_MAGIC = 3627  # Include/internal/pycore_magic_number.h: "Python 3.14rc3 3627", 3.14's last
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(
    NODE is None or packaging.pyodide_version() is None,
    reason="pyodide is not installed (`make py314` needs node and npm): no Python 3.14 compiler here",
)


def _pyodide() -> packaging.Precompiler:
    precompiler = packaging.pyodide_precompiler()
    assert precompiler is not None
    return precompiler


@pytest.fixture
def package(tmp_path: Path) -> Path:
    root = tmp_path / "asset"
    (root / "vendored" / "deep").mkdir(parents=True)
    (root / "vendored" / "__init__.py").write_text("", encoding="utf-8")
    (root / "vendored" / "core.py").write_text("def answer() -> int:\n    return 42\n", encoding="utf-8")
    (root / "vendored" / "deep" / "leaf.py").write_text("NAME = 'leaf'\n", encoding="utf-8")
    return root


def _import_in_pyodide(root: Path, mount: str) -> dict[str, object]:
    """Import ``vendored.core`` from ``root`` (mounted where Lambda would put it) in CPython 3.14."""
    script = f"""
import {{ loadPyodide }} from "pyodide";
const py = await loadPyodide();
py.FS.mkdirTree({json.dumps(mount)});
py.FS.mount(py.FS.filesystems.NODEFS, {{ root: {json.dumps(str(root))} }}, {json.dumps(mount)});
console.log(py.runPython(`
import json, sys
sys.path.insert(0, {json.dumps(mount)})
sys.dont_write_bytecode = True
import vendored.core as core
json.dumps({{"answer": core.answer(), "filename": core.answer.__code__.co_filename,
             "cached": core.__spec__.cached, "version": sys.version.split()[0]}})
`));
"""
    assert NODE is not None
    result = subprocess.run(  # noqa: S603 - node running our own script
        [NODE, "--input-type=module", "-e", script],
        cwd=packaging.PY314_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    loaded: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded


def test_every_module_gets_unchecked_cpython_314_bytecode_that_python_314_loads(package: Path) -> None:
    # Given a package, compiled by the WebAssembly CPython as the code asset Lambda unpacks at /var/task
    _pyodide().compile(package, packaging.CODE_MOUNT)

    # Then every module has __pycache__/<name>.cpython-314.pyc: 3.14's magic, hash-based, never
    # re-validated, naming the Lambda path and nothing of the build machine
    for source in package.rglob("*.py"):
        pyc = source.parent / "__pycache__" / f"{source.stem}.cpython-314.pyc"
        data = pyc.read_bytes()
        assert data[:4] == CPYTHON_314_MAGIC.to_bytes(2, "little") + b"\r\n"
        assert data[:4] == packaging.PYC_MAGIC["3.14"].to_bytes(2, "little") + b"\r\n"
        assert int.from_bytes(data[4:8], "little") == packaging.UNCHECKED_HASH_FLAGS
        relative = source.relative_to(package).as_posix()
        assert f"{packaging.CODE_MOUNT}/{relative}".encode() in data[PYC_HEADER_BYTES:]
        assert str(package).encode() not in data

    # When the source changes afterwards and CPython 3.14 imports the package from /var/task
    (package / "vendored" / "core.py").write_text("def answer() -> int:\n    return 0\n", encoding="utf-8")
    loaded = _import_in_pyodide(package, packaging.CODE_MOUNT)

    # Then it ran the precompiled bytecode (unchecked: the source is never read), and a traceback
    # would name /var/task
    assert str(loaded["version"]).startswith("3.14.")
    assert loaded["answer"] == 42
    assert loaded["filename"] == f"{packaging.CODE_MOUNT}/vendored/core.py"
    assert loaded["cached"] == f"{packaging.CODE_MOUNT}/vendored/__pycache__/core.cpython-314.pyc"


def test_a_module_that_does_not_compile_fails_the_build_and_is_named(package: Path) -> None:
    # Given a package with one module Python 3.14 cannot compile
    (package / "vendored" / "broken.py").write_text("def oops(:\n    pass\n", encoding="utf-8")

    # When the driver compiles it
    precompiler = _pyodide()
    result = subprocess.run(  # noqa: S603 - our driver, fixed arguments
        precompiler.command(package, packaging.LAYER_MOUNT), capture_output=True, text=True, check=False
    )

    # Then it exits non-zero and says which file and why; packaging raises rather than ship it
    assert result.returncode == 1
    assert "broken.py" in result.stderr
    assert "SyntaxError" in result.stderr
    with pytest.raises(subprocess.CalledProcessError):
        precompiler.compile(package, packaging.LAYER_MOUNT)


def test_the_driver_refuses_a_runtime_path_that_is_not_absolute(package: Path) -> None:
    assert NODE is not None
    driver = packaging.PY314_DIR / packaging.PYODIDE_DRIVER
    result = subprocess.run(  # noqa: S603 - our driver, fixed arguments
        [NODE, str(driver), f"{package}=opt/python"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "absolute" in result.stderr
    assert list(package.rglob("*.pyc")) == []


def test_the_code_asset_is_functions_with_bytecode_and_nothing_of_the_build_tools(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a repository with step code, tests, the precompiler's node_modules and a stale 3.11 cache
    root = tmp_path / "repo"
    (root / "functions" / "__pycache__").mkdir(parents=True)
    (root / "functions" / "__init__.py").write_text("", encoding="utf-8")
    (root / "functions" / "step.py").write_text("def handler() -> None:\n    pass\n", encoding="utf-8")
    (root / "functions" / "page.html").write_text("<p>approve</p>\n", encoding="utf-8")
    (root / "functions" / "__pycache__" / "step.cpython-311.pyc").write_bytes(b"stale")
    (root / "tests").mkdir()
    (root / "tests" / "test_step.py").write_text("", encoding="utf-8")
    (root / "tools" / "py314" / "node_modules").mkdir(parents=True)
    (root / "tools" / "py314" / "node_modules" / "x.js").write_text("", encoding="utf-8")
    monkeypatch.setattr(packaging, "find_precompiler", packaging.pyodide_precompiler)

    # When the code asset is built as `make synth` bundles it
    asset = tmp_path / "asset"
    compiled = packaging.build_code_asset(asset, root)

    # Then it holds functions/ (code and data) plus Python 3.14 bytecode, and nothing else
    assert compiled is True
    assert sorted(p.relative_to(asset).as_posix() for p in asset.rglob("*") if p.is_file()) == [
        "functions/__init__.py",
        "functions/__pycache__/__init__.cpython-314.pyc",
        "functions/__pycache__/step.cpython-314.pyc",
        "functions/page.html",
        "functions/step.py",
    ]
    pyc = (asset / "functions" / "__pycache__" / "step.cpython-314.pyc").read_bytes()
    assert b"/var/task/functions/step.py" in pyc
