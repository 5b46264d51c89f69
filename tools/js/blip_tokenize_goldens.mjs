// Makes tests/data/tokenizer/blip_goldens.jsonl: BLIP (BERT uncased WordPiece) token ids
// and decoded texts from Hugging Face's own JS tokenizer (@huggingface/transformers,
// offline), the independent reference for src/caption/wordpiece.c. From the repo root,
// after `cd tools/js && npm install --ignore-scripts`:
//
//   node tools/js/blip_tokenize_goldens.mjs [tokenizer_dir] [out.jsonl]
//
// tokenizer_dir defaults to tests/data/tokenizer/blip (a copy of the hub files).
// Output lines:
//   {"op":"encode","hex":H,"text":S,"ids":[101,...,102]}  tok.encode(S) (with [CLS]/[SEP]);
//                                                          H: S's UTF-8 bytes (S may hold U+0000)
//   {"op":"decode","ids":[...],"text":T}                   tok.decode(ids, {skip_special_tokens:true})
//
// Where transformers.js is known to differ from the Python (Rust `tokenizers`)
// tokenizer that BlipProcessor uses, the case is left out rather than recorded:
//   * a capital sigma: JS toLowerCase gives word-final ς, Rust maps every Σ to σ;
//   * CJK ideographs outside the BMP: JS pads only BMP ideographs with spaces
//     (it walks UTF-16 code units), Rust pads all of them.
// Decode cases use ids >= 30522 ([DEC], [ENC]) only with skip_special_tokens:
// Python drops ids without a token, JS maps them to [UNK], which is then skipped.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { env, AutoTokenizer } from '@huggingface/transformers';

const here = path.dirname(new URL(import.meta.url).pathname);
const src = path.resolve(process.argv[2] ?? 'tests/data/tokenizer/blip');
const out = path.resolve(process.argv[3] ?? 'tests/data/tokenizer/blip_goldens.jsonl');

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lisa-blip-tok-'));
const dir = path.join(root, 'blip');
fs.mkdirSync(dir);
for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.txt'])
    fs.copyFileSync(path.join(src, f), path.join(dir, f));
env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = root;
const tok = await AutoTokenizer.from_pretrained('blip');

const jsDiffers = (s) => /[\u03a3]/u.test(s) || /[\u{20000}-\u{2FA1F}]/u.test(s);

// ---- encode inputs ----------------------------------------------------------
const texts = [];
for (const line of fs.readFileSync(path.join(here, 'tokenize_strings.txt'), 'utf8').split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    texts.push(JSON.parse(line));
}
// BLIP-style captions and prompts, and what the decoder joins back.
texts.push('a picture of', 'a photography of', 'arafed man sitting on a bench', 'there is a dog that is laying down',
    'a close up of a cat\'s face', 'araffe standing in a field', 'a woman\'s hand holding a phone',
    'a man riding a skateboard down a street', 'they\'re playing; it\'s fun, isn\'t it?', 'I\'m here. You\'ve won!',
    'a [SEP] b', '[CLS] start [SEP] end [PAD]', '[sep] lower', '[MASK]ed', 'x[UNK]y', '[unused0] [unused1]',
    '[DEC] not special', 'résumé naïve façade coöperate', 'ÀÉÎÕÜ àéîõü', 'Ｆｕｌｌ ｗｉｄｔｈ', 'ﬁne ﬂow',
    'x'.repeat(100), 'x'.repeat(101), 'ab'.repeat(60), 'supercalifragilisticexpialidocious',
    'unbelievably tokenization wordpiece', 'São Paulo, Zürich & Kraków', 'e\u0301 cafe\u0301',
    'a\u200bb\u200dc', 'tab\there\vvt\fff', 'nul\u0000char', 'rep\ufffdlace', 'private\ue000use', 'bom\ufeffx',
    'soft\u00adhyphen', 'nbsp\u00a0here', 'ideo\u3000space', 'line\u2028sep', 'nel\u0085x', 'ogham\u1680x',
    '¿qué? ¡sí!', '«quoted» „this“ ‘that’', 'em—dash en–dash', '…ellipsis', '#hashtag @user $5 100%',
    '3.14159 1,000,000 2023-01-01', '東京タワー', '中文字符测试', '한국어 텍스트', 'ひらがな カタカナ',
    'ไทย', 'हिन्दी', 'مرحبا بالعالم', 'שלום עולם', 'Привет, МИР!', 'ΑΘΗΝΑ αθηνα', 'İstanbul ıi',
    '😀 emoji 👨‍👩‍👧 🇯🇵', 'Ⅷ ① ½ ² ³', 'ǅ ǈ ǋ', 'ß ẞ', 'Å Å', 'ﬀ ﬃ');
const frags = ['cat', 'Dog', 'BEACH', 'sunset', "don't", "IT'S", 'café', 'naïve', 'Straße', 'σοφία', 'москва',
    'ПАРИЖ', 'مرحبا', 'हिन्दी', '東京', '猫', '한국', 'ｶﾀｶﾅ', '😀', '42', '3.5', '...', '!!', '?', '&', '#tag',
    '(x)', '--', "'s", "'ll", "n't", 'e\u0301', '½', 'x_y', 'a/b', '[SEP]', '[CLS]', 'unaffable', 'playing',
    'jumped', 'antidisestablishment', 'photograph', 'sitting', 'the', 'of', 'a', ',', '.'];
const seps = [' ', '  ', '\t', '\n', '', ',', ', ', '-', '\u00a0', '\u3000', ' . ', "'"];
let seed = 4242;
const rnd = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
for (let i = 0; i < 180; i++) {
    let s = '';
    const k = 1 + rnd(10);
    for (let j = 0; j < k; j++) {
        let f = frags[rnd(frags.length)];
        if (rnd(5) === 0) f = f.toUpperCase();
        s += f + seps[rnd(seps.length)];
    }
    texts.push(s);
}

const lines = [];
const decodeCases = [];
let skipped = 0;
for (const t of texts) {
    if (jsDiffers(t)) { skipped++; continue; }
    const ids = Array.from(tok.encode(t));
    lines.push(JSON.stringify({ op: 'encode', hex: Buffer.from(t, 'utf8').toString('hex'), text: t, ids }));
    decodeCases.push(ids);
}

// ---- decode inputs ----------------------------------------------------------
// Ids that exercise the joining and cleanup rules: punctuation, contractions,
// ## pieces (also first), specials, [unusedN], and ids without a token.
const vocab = fs.readFileSync(path.join(src, 'vocab.txt'), 'utf8').split('\n');
const idOf = (t) => { const i = vocab.indexOf(t); if (i < 0) throw new Error('no token ' + t); return i; };
const pick = ['.', ',', '?', '!', "'", 's', 't', 'n', 'm', 're', 've', 'do', 'not', 'a', 'cat', 'dog', '##s',
    '##ing', '##ed', '##n', '##t', '[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', '[unused0]', '[unused5]', '-',
    '"', '(', ')', 'the', 'man', 'on', 'of', '##.', ':', ';', '&', '$'].map(idOf);
pick.push(30522, 30523);
for (let i = 0; i < 150; i++) {
    const n = rnd(14);
    const ids = [];
    if (rnd(2) === 0) ids.push(30522);
    for (let j = 0; j < n; j++) ids.push(rnd(3) === 0 ? rnd(30524) : pick[rnd(pick.length)]);
    if (rnd(2) === 0) ids.push(102);
    decodeCases.push(ids);
}
decodeCases.push([30522], [30522, 102], [102, 102], [0, 0, 0], [idOf('##s')], [idOf('##s'), idOf('##s')]);
for (const ids of decodeCases) {
    const text = tok.decode(ids, { skip_special_tokens: true });
    lines.push(JSON.stringify({ op: 'decode', ids, text }));
}
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, lines.join('\n') + '\n');
fs.rmSync(root, { recursive: true, force: true });
console.log(`${lines.length} cases (${texts.length - skipped} encode, ${decodeCases.length} decode; ${skipped} left out) -> ${out}`);
