// Maps strings to SigLIP 2 token rows with the real Gemma tokenizer (npm @huggingface/transformers, offline).
//   node tools/siglip/gemma_ids.mjs --tokenizer FILE [--raw] < strings.json > ids.json
// stdin: a JSON array of strings; stdout: a JSON array of id arrays: encode(text, add_special_tokens: false)
// (the file's own post-processor would add <bos>; SigLIP 2 uses none), cut to 63 ids, then <eos> (1).
// No padding (the C side pads with <pad> = 0 to 64). Lower-casing as transformers v5's Siglip2Tokenizer does it
// (do_lower_case: a Lowercase normalizer in front of Gemma's Replace(" " -> "\u2581"), applied to the text between
// added tokens); --raw leaves the case alone (transformers v4 / transformers.js behaviour). The Lowercase is made
// per code point, as the Rust tokenizers' NormalizedString::lowercase maps each char (char::to_lowercase): JS's
// String.toLowerCase() would apply the context-dependent final-sigma rule (ΟΔΟΣ -> οδος), Rust does not (οδοσ).
import fs from 'node:fs';
import { PreTrainedTokenizer, env } from '../js/node_modules/@huggingface/transformers/dist/transformers.node.mjs';

env.allowRemoteModels = false;
const MAXLEN = 64;
let file = null, raw = false;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--tokenizer') file = argv[++i];
  else if (argv[i] === '--raw') raw = true;
}
const tjson = JSON.parse(fs.readFileSync(file, 'utf8'));
if (!raw) tjson.normalizer = { type: 'Sequence', normalizers: [{ type: 'Lowercase' }, tjson.normalizer] };
const tok = new PreTrainedTokenizer(tjson, {
  bos_token: '<bos>', eos_token: '<eos>', unk_token: '<unk>', pad_token: '<pad>', model_max_length: MAXLEN,
});
if (!raw) {
  const lower = tok.normalizer.normalizers[0];
  lower.normalize = (text) => Array.from(text, (c) => c.toLowerCase()).join('');
}
const texts = JSON.parse(fs.readFileSync(0, 'utf8'));
const out = texts.map((t) => Array.from(tok.encode(t, { add_special_tokens: false })).slice(0, MAXLEN - 1).concat([1]));
process.stdout.write(JSON.stringify(out) + '\n');
