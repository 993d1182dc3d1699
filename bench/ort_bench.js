// ort_bench.js — the ONNX Runtime side of bench/bench.py (onnxruntime-node,
// CPU execution provider), speaking the same stdin protocol as kiln_bench.c
// so the benchmark can interleave the two while both stay warm.
//
//   node ort_bench.js SPEC.json THREADS
//
// SPEC.json: {"model": PATH, "inputs": [{"name", "type", "dims", "file"}],
//             "outputs": [PATH, ...]}   (outputs in the model's order)
// The session gets intraOpNumThreads = THREADS, interOpNumThreads = 1,
// sequential execution and every graph optimisation (ORT's defaults for
// a latency-bound single request).  At start it runs the model once, writes
// each output as raw little-endian bytes and prints "ready"; then for each
// line "run N" it runs N times and prints each run's wall time in ms on one
// line.  The time is that of `await session.run(feeds)`: the work plus the
// binding's call overhead (tens of microseconds).
'use strict';
const fs = require('fs');
const path = require('path');
const readline = require('readline');

// onnxruntime-node lives in bench/node_modules (bench/run.sh installs it);
// KILN_ORT_DIR points elsewhere when it was installed elsewhere.
const ortDir = process.env.KILN_ORT_DIR || path.join(__dirname, 'node_modules');
const ort = require(path.join(ortDir, 'onnxruntime-node'));

const ARRAYS = {
  float32: Float32Array, float64: Float64Array, int64: BigInt64Array, int32: Int32Array,
  int8: Int8Array, uint8: Uint8Array, bool: Uint8Array,
};

async function main() {
  const [specPath, threadsArg] = process.argv.slice(2);
  if (!specPath || !threadsArg) {
    process.stderr.write('usage: node ort_bench.js SPEC.json THREADS\n');
    process.exit(2);
  }
  const spec = JSON.parse(fs.readFileSync(specPath, 'utf8'));
  const session = await ort.InferenceSession.create(spec.model, {
    intraOpNumThreads: Number(threadsArg),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const feeds = {};
  for (const inp of spec.inputs) {
    const bytes = fs.readFileSync(inp.file);
    const Arr = ARRAYS[inp.type];
    if (!Arr) throw new Error(`input ${inp.name}: unsupported type ${inp.type}`);
    // copy into an aligned buffer of its own: a Buffer may share a pool
    const data = new Arr(bytes.byteLength / Arr.BYTES_PER_ELEMENT);
    new Uint8Array(data.buffer).set(bytes);
    feeds[inp.name] = new ort.Tensor(inp.type, data, inp.dims);
  }

  const first = await session.run(feeds);
  session.outputNames.forEach((name, i) => {
    const d = first[name].data;
    fs.writeFileSync(spec.outputs[i], Buffer.from(d.buffer, d.byteOffset, d.byteLength));
  });
  process.stdout.write('ready\n');

  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (line.startsWith('quit')) break;
    const m = /^run (\d+)$/.exec(line.trim());
    if (!m) throw new Error(`bad command: ${line}`);
    const times = [];
    for (let r = 0; r < Number(m[1]); r++) {
      const t0 = process.hrtime.bigint();
      await session.run(feeds);
      const t1 = process.hrtime.bigint();
      times.push((Number(t1 - t0) / 1e6).toFixed(4));
    }
    process.stdout.write(times.join(' ') + '\n');
  }
  rl.close();
  await session.release();
}

main().catch((e) => {
  process.stderr.write(`ort_bench: ${e.stack || e}\n`);
  process.exit(1);
});
