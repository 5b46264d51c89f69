// ONNX Runtime (onnxruntime-node, CPU, intraOpNumThreads 2, interOpNumThreads 1)
// speed reference for the CLIP engine: model-only timings (pixel_values -> embedding,
// ids -> embedding; no decode, no preprocessing, no tokenizer).
//   node bench/ref/ort_bench.mjs MODEL_DIR [--runs N] [--check GOLDEN.json]
// MODEL_DIR/onnx/{vision,text}.onnx come from tools/clip/export_onnx.py.
// Prints: ort image_b1_per_s X / ort image_b8_per_s X / ort text_latency_ms X
// (medians over N timed runs after 2 warm-ups). --check compares against a golden
// file's pixels/ids instead (prints the max |diff|, exits 1 above 1e-4).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', '..', 'tools', 'js', 'package.json'));
const ort = require('onnxruntime-node');

const argv = process.argv.slice(2);
let dir = null, runs = 10, check = null;
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--runs') runs = parseInt(argv[++i], 10);
  else if (argv[i] === '--check') check = argv[++i];
  else dir = argv[i];
}
if (!dir) { console.error('usage: ort_bench.mjs MODEL_DIR [--runs N] [--check GOLDEN.json]'); process.exit(2); }

const opts = { executionProviders: ['cpu'], intraOpNumThreads: 2, interOpNumThreads: 1,
  graphOptimizationLevel: 'all', executionMode: 'sequential' };
const vis = await ort.InferenceSession.create(path.join(dir, 'onnx', 'vision.onnx'), opts);
const txt = await ort.InferenceSession.create(path.join(dir, 'onnx', 'text.onnx'), opts);
const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
const S = cfg.vision_config.image_size;

function pixels(b) {
  const a = new Float32Array(b * 3 * S * S);
  let s = 12345;
  for (let i = 0; i < a.length; i++) { s = (s * 1103515245 + 12345) >>> 0; a[i] = (s / 4294967296) * 4 - 2; }
  return new ort.Tensor('float32', a, [b, 3, S, S]);
}
function idsTensor(ids) {
  return new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]);
}
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
async function timeit(fn, n) {
  await fn(); await fn();
  const t = [];
  for (let i = 0; i < n; i++) { const t0 = process.hrtime.bigint(); await fn(); t.push(Number(process.hrtime.bigint() - t0) / 1e9); }
  return median(t);
}

if (check) {
  const g = JSON.parse(fs.readFileSync(check, 'utf8'));
  const base = path.dirname(check);
  let worst = 0;
  for (const im of g.images) {
    const buf = fs.readFileSync(path.join(base, im.pixels));
    const px = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
    const r = await vis.run({ pixel_values: new ort.Tensor('float32', Float32Array.from(px), [1, ...im.shape]) });
    r.image_embeds.data.forEach((v, i) => { worst = Math.max(worst, Math.abs(v - im.embed[i])); });
  }
  for (const t of g.texts) {
    const r = await txt.run({ input_ids: idsTensor(t.ids) });
    r.text_embeds.data.forEach((v, i) => { worst = Math.max(worst, Math.abs(v - t.embed[i])); });
  }
  console.log(`ort check ${check} max_abs_diff ${worst.toExponential(3)}`);
  process.exit(worst <= 1e-4 ? 0 : 1);
}

const p1 = pixels(1), p8 = pixels(8);
const q = cfg.model_type === 'siglip' // SigLIP: the processor's row, padded with <pad> (0) to 64
  ? idsTensor([262, 266, 1357, 267, 262, 1].concat(new Array(58).fill(0)))
  : idsTensor([49406, 320, 1125, 539, 320, 2368, 49407]); // "a photo of a cat"
const t1 = await timeit(() => vis.run({ pixel_values: p1 }), runs);
const t8 = await timeit(() => vis.run({ pixel_values: p8 }), Math.max(3, runs >> 1));
const tt = await timeit(() => txt.run({ input_ids: q }), runs * 3);
console.log(`ort image_b1_per_s ${(1 / t1).toFixed(2)}`);
console.log(`ort image_b8_per_s ${(8 / t8).toFixed(2)}`);
console.log(`ort text_latency_ms ${(tt * 1000).toFixed(2)}`);
