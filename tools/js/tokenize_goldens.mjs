// Makes tests/data/tokenizer/clip_goldens.jsonl: CLIP token ids from Hugging Face's
// own JS tokenizer (@huggingface/transformers), the independent reference for
// src/clip/bpe.c. Run from the repository root after `cd tools/js && npm install`:
//
//   node tools/js/tokenize_goldens.mjs [tokenizer.json] [out.jsonl]
//
// Each output line is {"hex": UTF-8 bytes as hex, "text": the string, "ids": [...],
// "ids77": [...]}. "ids" is the untruncated encoding (BOS ... EOS). "ids77" is what
// HF Python's CLIPTokenizer(Fast)(text, truncation=True, max_length=77) returns: the
// Rust tokenizers truncate the content to 75 tokens *before* adding BOS/EOS, so EOS
// is kept. transformers.js instead cuts the finished list at 77 (dropping EOS), so
// ids77 is derived here from the reference "ids" by the Python rule, and the JS cut
// is checked to agree on the first 76 ids.
//
// Lines with "invalid": true carry bytes that are not UTF-8. JS strings cannot hold
// them, so the reference encodes TextDecoder's (WHATWG) decoding of them: every
// maximal ill-formed subsequence becomes U+FFFD. The C encoder does the same.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { env, AutoTokenizer } from '@huggingface/transformers';

const MAX = 77;
const src = path.resolve(process.argv[2] ?? 'tests/data/tokenizer/clip/tokenizer.json');
const out = path.resolve(process.argv[3] ?? 'tests/data/tokenizer/clip_goldens.jsonl');
const here = path.dirname(new URL(import.meta.url).pathname);

// A local "model" dir: tokenizer.json plus the tokenizer_config.json the hub has.
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lisa-tok-'));
const dir = path.join(root, 'clip');
fs.mkdirSync(dir);
fs.copyFileSync(src, path.join(dir, 'tokenizer.json'));
fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({
    tokenizer_class: 'CLIPTokenizer',
    model_max_length: MAX,
    bos_token: '<|startoftext|>',
    eos_token: '<|endoftext|>',
    unk_token: '<|endoftext|>',
    pad_token: '<|endoftext|>',
    do_lower_case: true,
}));
env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = root;
const tok = await AutoTokenizer.from_pretrained('clip');
const EOS = 49407;

// ---- inputs -------------------------------------------------------------------
const cases = []; // {bytes: Buffer, invalid: bool}
for (const line of fs.readFileSync(path.join(here, 'tokenize_strings.txt'), 'utf8').split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    cases.push({ bytes: Buffer.from(JSON.parse(line), 'utf8'), invalid: false });
}

// Long texts: well past 77 tokens, to test truncation.
const longs = [
    'a photo of a cat sitting on a red sofa next to a window with the sun shining in '.repeat(8),
    'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. '.repeat(6),
    Array.from({ length: 200 }, (_, i) => String(i)).join(' '),
    'word '.repeat(76).trim(),
    'word '.repeat(75).trim(),
    'word '.repeat(74).trim(),
    'word '.repeat(77).trim(),
    '!'.repeat(500),
    'x'.repeat(1000),
    '😀'.repeat(100),
    '東京'.repeat(60),
    'Привет мир, как дела? '.repeat(10),
    'the end of a long caption, which goes on and on; and then, finally, stops. '.repeat(5),
];
for (const s of longs) cases.push({ bytes: Buffer.from(s, 'utf8'), invalid: false });

// Seeded mixes of fragments from many scripts and separators (deterministic LCG).
const frags = ['cat', 'Dog', 'BEACH', 'sunset', "don't", "IT'S", 'café', 'cafe\u0301', 'naïve',
    'Straße', 'ΟΔΟΣ', 'σοφία', 'İzmir', 'москва', 'ПАРИЖ', 'مرحبا', 'שלום', 'हिन्दी', 'नमस्ते',
    'ไทย', 'สวัสดี', '東京', '猫', '한국', 'ｶﾀｶﾅ', '😀', '👨‍👩‍👧', '🇯🇵', '❤️', '42', '3.5', '١٢',
    '2023', '...', '!!', '?', '&', '#tag', '@me', '(x)', '--', '\'s', '\'ll', 'e\u0301', '\u0301',
    'ﬁ', '½', '²', 'x_y', 'a/b', '\ufffd', '𝐁'];
const seps = [' ', '  ', '\t', '\n', '', ',', ', ', '-', '\u00a0', '\u3000', ' . ', "'"];
let seed = 12345;
const rnd = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
for (let i = 0; i < 160; i++) {
    let s = '';
    const k = 1 + rnd(12);
    for (let j = 0; j < k; j++) {
        let f = frags[rnd(frags.length)];
        if (rnd(5) === 0) f = f.toUpperCase();
        s += f + seps[rnd(seps.length)];
    }
    cases.push({ bytes: Buffer.from(s, 'utf8'), invalid: false });
}

// Invalid UTF-8 (hex).
const bad = ['ff', '80', 'c0', 'c080', 'c0af', 'e282', 'e28228', 'eda080', 'edbfbf', 'f4908080',
    'f8888080', 'fe', 'fffe', 'c328', 'e080af', 'f09f98', 'f09f9861', '61ff62', '636166c3',
    '612070686f746f20ff206f662061206361740a', 'c3a9ffc3a9', '65cc', '65cc81cc', 'f09f9880f09f',
    'e2', '27ff73', 'ff27', '4141c38041', 'efbbbf61', '00', '610062', 'c2', 'f0908080', 'f5',
    'e0a080', 'ef bf bf'.replaceAll(' ', ''), 'f48fbfbf', 'cc81ff', 'c1bf', 'e09f80'];
for (const h of bad) cases.push({ bytes: Buffer.from(h, 'hex'), invalid: true });

// ---- reference ids ----------------------------------------------------------
const lines = [];
const dec = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
for (const c of cases) {
    const text = dec.decode(c.bytes);
    if (!c.invalid && !Buffer.from(text, 'utf8').equals(c.bytes)) throw new Error('round trip: ' + text);
    const ids = tok.encode(text);
    const ids77 = ids.length <= MAX ? ids : [...ids.slice(0, MAX - 1), EOS];
    const js77 = Array.from(tok(text, { truncation: true, max_length: MAX, return_tensor: false }).input_ids);
    if (JSON.stringify(js77.slice(0, MAX - 1)) !== JSON.stringify(ids77.slice(0, MAX - 1)))
        throw new Error('JS truncation disagrees for ' + JSON.stringify(text));
    const rec = { hex: c.bytes.toString('hex'), text, ids, ids77 };
    if (c.invalid) rec.invalid = true;
    lines.push(JSON.stringify(rec));
}
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, lines.join('\n') + '\n');
fs.rmSync(root, { recursive: true, force: true });
console.log(`${lines.length} cases -> ${out}`);
