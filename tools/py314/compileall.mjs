// Precompile Python sources to CPython 3.14 bytecode with CPython 3.14 itself (pyodide: the real
// interpreter built for WebAssembly), for a build machine that has no native python3.14.
//
// Why this works: a .pyc holds marshalled code objects, which do not depend on the platform; what
// must match is the interpreter version (magic number 3627 = CPython 3.14 final, see
// Include/internal/pycore_magic_number.h: "Python 3.14rc3 3627", the last 3.14 entry before 3.15a0's
// 3650) and the cache tag in the file name (sys.implementation.cache_tag is "cpython-314" in pyodide,
// as in Lambda's python3.14). Both are checked before anything is written.
//
// Usage: node compileall.mjs [--jobs N] HOST_DIR=RUNTIME_DIR [HOST_DIR=RUNTIME_DIR ...]
//   Every .py under HOST_DIR gets HOST_DIR/**/__pycache__/<name>.cpython-314.pyc, hash-based and
//   never re-validated against the source (PEP 552 unchecked-hash: the artifact is immutable), with
//   the source path recorded as RUNTIME_DIR/... (what a traceback on Lambda shows: /opt/python for a
//   layer, /var/task for the code asset). Only errors are printed (on stderr).
//   --jobs: worker threads, each its own interpreter compiling every Nth file (default: one per
//   ~500 files, at most the machine's cores and 4; loading an interpreter costs ~2 s of CPU).
// Exit status: 0 when every file compiled; 1 when any did not (each error is printed); 2 on bad usage
// or an interpreter that is not CPython 3.14.
import { existsSync, readdirSync, statSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import { loadPyodide } from "pyodide";

const EXPECTED_MAGIC = 3627;
const EXPECTED_CACHE_TAG = "cpython-314";
const FILES_PER_JOB = 500;
const MAX_JOBS = 4;

const PYTHON = `
import compileall, importlib.util, os, py_compile, sys

magic = int.from_bytes(importlib.util.MAGIC_NUMBER[:2], "little")
if magic != ${EXPECTED_MAGIC} or sys.implementation.cache_tag != "${EXPECTED_CACHE_TAG}":
    raise SystemExit(f"not CPython 3.14: magic {magic}, cache tag {sys.implementation.cache_tag}")


def compile_share(mounted: str, runtime: str, shard: int, shards: int) -> bool:
    """Compile every shards-th .py file (sorted walk, symlinks not followed), as compileall does."""
    sources = sorted(
        os.path.join(folder, name)
        for folder, _, names in os.walk(mounted)
        for name in names
        if name.endswith(".py")
    )
    ok = True
    for source in sources[shard::shards]:
        ok &= bool(compileall.compile_file(
            source, quiet=1, stripdir=mounted, prependdir=runtime,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        ))
    return ok
`;

function parseArgs(argv) {
  let jobs = null;
  const targets = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--jobs") {
      jobs = Number.parseInt(argv[++i], 10);
      if (!(jobs >= 1)) throw new Error("--jobs takes a positive integer");
      continue;
    }
    const at = argv[i].lastIndexOf("=");
    if (at <= 0) throw new Error(`expected HOST_DIR=RUNTIME_DIR, got ${JSON.stringify(argv[i])}`);
    const host = resolve(argv[i].slice(0, at));
    const runtime = argv[i].slice(at + 1);
    if (!existsSync(host) || !statSync(host).isDirectory()) throw new Error(`not a directory: ${host}`);
    if (!runtime.startsWith("/")) throw new Error(`runtime path must be absolute: ${runtime}`);
    targets.push({ host, runtime });
  }
  if (targets.length === 0) throw new Error("usage: node compileall.mjs [--jobs N] HOST_DIR=RUNTIME_DIR [...]");
  return { jobs, targets };
}

function countSources(directory) {
  let count = 0;
  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    if (entry.isDirectory()) count += countSources(join(directory, entry.name));
    else if (entry.isFile() && entry.name.endsWith(".py")) count += 1;
  }
  return count;
}

/** One interpreter compiles its share of every target; resolves to "ok", "errors" or "not-3.14". */
async function compileShare(targets, shard, shards) {
  const write = (line) => process.stderr.write(`${line}\n`);
  const py = await loadPyodide({ stdout: write, stderr: write });
  try {
    py.runPython(PYTHON);
  } catch (error) {
    write(String(error.message ?? error));
    return "not-3.14";
  }
  const compile = py.globals.get("compile_share");
  let ok = true;
  targets.forEach(({ host, runtime }, index) => {
    const mounted = `/stepwise/src${index}`;
    py.FS.mkdirTree(mounted);
    py.FS.mount(py.FS.filesystems.NODEFS, { root: host }, mounted);
    try {
      ok = compile(mounted, runtime, shard, shards) && ok;
    } finally {
      py.FS.unmount(mounted);
    }
  });
  compile.destroy();
  return ok ? "ok" : "errors";
}

async function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (error) {
    console.error(String(error.message ?? error));
    return 2;
  }
  const sources = args.targets.reduce((sum, { host }) => sum + countSources(host), 0);
  const jobs =
    args.jobs ?? Math.max(1, Math.min(Math.floor(sources / FILES_PER_JOB), availableParallelism(), MAX_JOBS));
  const results =
    jobs === 1
      ? [await compileShare(args.targets, 0, 1)]
      : await Promise.all(
          Array.from(
            { length: jobs },
            (_, shard) =>
              new Promise((done, fail) => {
                const worker = new Worker(new URL(import.meta.url), {
                  workerData: { targets: args.targets, shard, shards: jobs },
                });
                worker.once("message", done);
                worker.once("error", fail);
                worker.once("exit", (code) => fail(new Error(`compile worker ${shard} exited (${code})`)));
              }),
          ),
        );
  if (results.includes("not-3.14")) return 2;
  if (results.includes("errors")) {
    console.error(`compile errors in ${args.targets.map(({ host }) => host).join(", ")}`);
    return 1;
  }
  return 0;
}

if (isMainThread) {
  process.exitCode = await main();
} else {
  parentPort.postMessage(await compileShare(workerData.targets, workerData.shard, workerData.shards));
}
