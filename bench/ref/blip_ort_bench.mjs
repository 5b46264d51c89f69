// ONNX Runtime (onnxruntime-node, CPU, intraOpNumThreads 2, interOpNumThreads 1)
// speed reference for the BLIP vision tower (tools/caption/export_onnx.py):
//   node bench/ref/blip_ort_bench.mjs MODEL_DIR [--runs N] [--check GOLDEN.json]
// prints "ort caption_vision_ms X" (median of N timed runs after 2 warm-ups, batch 1,
// random pixels). --check runs a golden file's pixels instead and prints the max |diff|
// against its vision states (exits 1 above 1e-4).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', '..', 'tools', 'js', 'package.json'));
const ort = require('onnxruntime-node');

const argv = process.argv.slice(2);
let dir = null, runs = 5, check = null;
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--runs') runs = parseInt(argv[++i], 10);
  else if (argv[i] === '--check') check = argv[++i];
  else dir = argv[i];
}
if (!dir) { console.error('usage: blip_ort_bench.mjs MODEL_DIR [--runs N] [--check GOLDEN.json]'); process.exit(2); }
const opts = { executionProviders: ['cpu'], intraOpNumThreads: 2, interOpNumThreads: 1,
  graphOptimizationLevel: 'all', executionMode: 'sequential' };
const vis = await ort.InferenceSession.create(path.join(dir, 'onnx', 'vision.onnx'), opts);
const S = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).vision_config.image_size;
const f32 = (file) => { const b = fs.readFileSync(file); return Float32Array.from(new Float32Array(b.buffer, b.byteOffset, b.length / 4)); };

if (check) {
  const g = JSON.parse(fs.readFileSync(check, 'utf8'));
  const base = path.dirname(check);
  let worst = 0;
  for (const im of g.images) {
    const r = await vis.run({ pixel_values: new ort.Tensor('float32', f32(path.join(base, im.pixels)), [1, 3, S, S]) });
    const want = f32(path.join(base, im.vision));
    r.image_embeds.data.forEach((v, i) => { worst = Math.max(worst, Math.abs(v - want[i])); });
  }
  console.log(`ort vision max_abs_diff ${worst.toExponential(2)} over ${g.images.length} images`);
  process.exit(worst > 1e-4 ? 1 : 0);
}
const a = new Float32Array(3 * S * S);
let s = 12345;
for (let i = 0; i < a.length; i++) { s = (s * 1103515245 + 12345) >>> 0; a[i] = (s / 4294967296) * 4 - 2; }
const px = new ort.Tensor('float32', a, [1, 3, S, S]);
await vis.run({ pixel_values: px }); await vis.run({ pixel_values: px });
const t = [];
for (let i = 0; i < runs; i++) { const t0 = process.hrtime.bigint(); await vis.run({ pixel_values: px }); t.push(Number(process.hrtime.bigint() - t0) / 1e6); }
t.sort((x, y) => x - y);
console.log(`ort caption_vision_ms ${t[t.length >> 1].toFixed(1)}`);
