// Maps strings to CLIP token ids with the real tokenizer (npm @huggingface/transformers,
// offline): BOS ... EOS, truncated to 77 keeping EOS, no padding.
//   node tools/clip/ids.mjs [--tokenizer DIR_OR_FILE] < strings.json > ids.json
// stdin: a JSON array of strings; stdout: a JSON array of id arrays.
// DIR_OR_FILE: a directory holding tokenizer.json, or the file itself
// (default tests/data/tokenizer/clip in this repository).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLIPTokenizer, env } from '../js/node_modules/@huggingface/transformers/dist/transformers.node.mjs';

env.allowRemoteModels = false;
const MAXLEN = 77;
const here = path.dirname(fileURLToPath(import.meta.url));
let tk = path.join(here, '..', '..', 'tests', 'data', 'tokenizer', 'clip');
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--tokenizer') tk = argv[++i];
}
const file = fs.statSync(tk).isDirectory() ? path.join(tk, 'tokenizer.json') : tk;
const tjson = JSON.parse(fs.readFileSync(file, 'utf8'));
const tok = new CLIPTokenizer(tjson, {
  bos_token: '<|startoftext|>', eos_token: '<|endoftext|>',
  unk_token: '<|endoftext|>', pad_token: '<|endoftext|>', model_max_length: MAXLEN,
});
const texts = JSON.parse(fs.readFileSync(0, 'utf8'));
const out = texts.map((t) => {
  let ids = Array.from(tok.encode(t, { add_special_tokens: true }));
  if (ids.length > MAXLEN) ids = ids.slice(0, MAXLEN - 1).concat([ids[ids.length - 1]]);
  return ids;
});
process.stdout.write(JSON.stringify(out) + '\n');
