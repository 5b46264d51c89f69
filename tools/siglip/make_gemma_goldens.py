#!/usr/bin/python3
"""Makes the committed Gemma tokenizer goldens (dev time: node + tools/js/node_modules).

  /usr/bin/python3 tools/siglip/make_gemma_goldens.py [--full ../shared/models/siglip-tokenizer/siglip2-gemma/tokenizer.json]

Writes, with the real tokenizer (tools/siglip/gemma_ids.mjs, npm @huggingface/transformers):
  tests/data/siglip/gemma_ids.json       the reduced vocabulary (tests/data/siglip/gemma-reduced), lower-cased
                                         and --raw rows: what test_siglip checks on every run;
  tests/data/siglip/gemma_full_ids.json  the real 256,000-piece file, lower-cased: checked when
                                         LISA_GEMMA_TOKENIZER names that file (it is not in the repo).
Each case: {"text", "ids"} (content ids + <eos>, no padding).
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

PHRASES = {
    "en": ["a photo of a cat", "dog running on grass", "sunset over the mountains", "my birthday cake",
           "a red car parked at night", "children playing on the beach", "snow covered pine trees",
           "a bowl of ramen noodles", "old black and white family photo", "the Eiffel Tower in Paris",
           "receipt from the supermarket", "screenshot of a chat", "two people hiking", "a bird on a branch",
           "wedding dance", "city skyline with skyscrapers", "flowers in a vase", "a cup of coffee on a table",
           "the real mountain view", "San Francisco"],
    "de": ["ein Foto einer Katze", "Hund läuft auf dem Rasen", "Sonnenuntergang über den Bergen",
           "Zürich und die Alpen", "Straßenbahn in München", "Geburtstagsfeier mit Kuchen",
           "schneebedeckte Tannen", "Größe übermäßig", "Frühstück im Café", "Weihnachtsmarkt"],
    "fr": ["une photo d'un chat", "chien qui court sur l'herbe", "coucher de soleil sur la mer",
           "la tour Eiffel à Paris", "gâteau d'anniversaire", "forêt enneigée", "pâtes à la crème",
           "élève à l'école", "Noël en famille", "œuvre d'art"],
    "es": ["una foto de un gato", "perro corriendo en la hierba", "atardecer sobre las montañas",
           "niños jugando en la playa", "pastel de cumpleaños", "la ciudad de México", "¿dónde está el baño?",
           "¡qué bonito!", "señal de tráfico", "mañana en el campo"],
    "it": ["una foto di un gatto", "cane che corre sull'erba", "tramonto sul mare", "la torre di Pisa",
           "pizza margherita", "città di notte"],
    "pt": ["uma foto de um gato", "cachorro correndo na grama", "pôr do sol na praia", "São Paulo à noite",
           "coração", "avião no céu"],
    "nl": ["een foto van een kat", "hond die op het gras rent", "fietsen in Amsterdam", "zonsondergang"],
    "pl": ["zdjęcie kota", "pies biegający po trawie", "zachód słońca nad morzem", "Kraków zimą"],
    "tr": ["bir kedinin fotoğrafı", "çimlerde koşan köpek", "İstanbul'da gün batımı", "IŞIK ve ışık"],
    "ru": ["фотография кошки", "собака бежит по траве", "закат над горами", "Москва зимой",
           "день рождения", "ЁЛКА и ёлка"],
    "uk": ["фото кота", "собака біжить по траві", "Київ вночі"],
    "el": ["μια φωτογραφία μιας γάτας", "ΟΔΟΣ", "Σίσυφος", "ηλιοβασίλεμα στη θάλασσα"],
    "zh": ["一只猫的照片", "在草地上奔跑的狗", "山上的日落", "生日蛋糕", "北京的长城", "海滩上玩耍的孩子",
           "下雪的森林", "一碗拉面", "城市夜景", "我的家人"],
    "zh-tw": ["一隻貓的照片", "臺北的夜市", "繁體中文"],
    "ja": ["猫の写真", "草の上を走る犬", "山に沈む夕日", "誕生日ケーキ", "東京タワー", "ラーメン一杯",
           "桜の花", "カタカナとひらがな"],
    "ko": ["고양이 사진", "잔디 위를 달리는 개", "산 위의 일몰", "생일 케이크", "서울의 야경"],
    "ar": ["صورة قطة", "كلب يركض على العشب", "غروب الشمس فوق الجبال", "القاهرة"],
    "he": ["תמונה של חתול", "כלב רץ על הדשא", "ירושלים"],
    "hi": ["एक बिल्ली की तस्वीर", "घास पर दौड़ता कुत्ता", "पहाड़ों पर सूर्यास्त", "दिल्ली"],
    "th": ["รูปแมว", "สุนัขวิ่งบนหญ้า", "กรุงเทพ"],
    "vi": ["ảnh một con mèo", "chó chạy trên cỏ", "hoàng hôn trên núi", "Hà Nội"],
    "id": ["foto seekor kucing", "anjing berlari di rumput"],
    "sw": ["picha ya paka", "mbwa anakimbia kwenye nyasi"],
    "fa": ["عکس یک گربه"],
    "bn": ["একটি বিড়ালের ছবি"],
    "ta": ["ஒரு பூனையின் புகைப்படம்"],
    "ka": ["კატის ფოტო"],
    "hy": ["կատվի լուսանկար"],
    "am": ["የድመት ፎቶ"],
}

EDGE = [
    "", " ", "  ", "   leading and trailing   ", "A  Red\tCar\nat NIGHT", "line1\n\nline2", "tab\there",
    "Hello, World!!! ... ???", "it's a dog's life, isn't it?", "2024 photos from 1999", "3.14159 and 1,000,000",
    "café naïve 東京 🐱", "🐶🐱🐭🐹🐰🦊", "👨‍👩‍👧‍👦 family", "🇩🇪🇫🇷 flags", "e\u0301 combining", "\u00e9 precomposed",
    "ǅ titlecase", "ﬁ ligature", "Ⅻ roman", "ＡＢＣ fullwidth", "x\u200by zero width", "nbsp\u00a0here",
    "\u3000ideographic space", "<b>bold</b> and <i>italic</i>", "<B>UPPER TAG</B>", "<pad><eos><bos><unk>",
    "<unused0> <unused10> <unused99>", "[@BOS@] <mask> <2mass>", "a <start_of_turn> b", "</code>code<code>",
    "<0x41> literal", "\u2581 already marked", "____ underscores ____", "--- dashes --- ***",
    "https://example.com/path?q=1&r=2", "user@example.com", "#hashtag @mention", "C:\\Users\\photo.jpg",
    "IMG_20240101_123456.JPG", "DSC01234", "ALL CAPS SENTENCE", "MiXeD CaSe WoRdS", "ΣΊΣΥΦΟΣ ΟΔΟΣ",
    "straße STRASSE", "İIıi", "ǈǋǲ", "\u0130stanbul", "a" * 80, "ab " * 40, "ha" * 50,
    "The view through the window reveals lake Zürich and the Alps in the background of the city.",
    "a picture of a laptop with the lockscreen on, a cup of cappucino, salt and pepper grinders.",
    "A long paragraph for summarization.", "\x01\x02 control \x7f", "quote \"double\" 'single'",
    "math ∑∫√∞ ≠ ≤ ≥", "arrows ← → ↑ ↓", "currency € £ ¥ ₹ ₿", "music ♪♫ chess ♔♕", "box ┌─┐",
    "\U0001F600\U0001F64F", "\U00020000 ext-B", "\U0010FFFD private", "\ufeffBOM", "x\ufffdreplacement",
]


def cases():
    out = []
    for lang, ps in PHRASES.items():
        for p in ps:
            out.append(p)
            out.append(p.upper() if lang not in ("zh", "zh-tw", "ja", "ko", "ar", "he", "hi", "th") else p + " " + p)
            out.append("  " + p + "!")
    out.extend(EDGE)
    seen, uniq = set(), []
    for s in out:
        if s not in seen:
            seen.add(s)
            uniq.append(s)
    return uniq


def run(tokenizer, texts, raw=False):
    cmd = ["node", os.path.join(HERE, "gemma_ids.mjs"), "--tokenizer", tokenizer] + (["--raw"] if raw else [])
    r = subprocess.run(cmd, input=json.dumps(texts).encode(), capture_output=True, check=True)
    return json.loads(r.stdout)


def write(path, doc):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=0)
        f.write("\n")
    print("%s: %d cases" % (path, len(doc["cases"])))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--full", default=os.path.join(ROOT, "..", "shared", "models", "siglip-tokenizer",
                                                   "siglip2-gemma", "tokenizer.json"))
    a = ap.parse_args()
    texts = cases()
    reduced = os.path.join(ROOT, "tests", "data", "siglip", "gemma-reduced", "tokenizer.json")
    low, raw = run(reduced, texts), run(reduced, texts, raw=True)
    write(os.path.join(ROOT, "tests", "data", "siglip", "gemma_ids.json"),
          {"tokenizer": "gemma-reduced", "source": "npm @huggingface/transformers via tools/siglip/gemma_ids.mjs",
           "cases": [{"text": t, "ids": i, "raw_ids": r} for t, i, r in zip(texts, low, raw)]})
    full = run(a.full, texts)
    write(os.path.join(ROOT, "tests", "data", "siglip", "gemma_full_ids.json"),
          {"tokenizer": "siglip2-gemma tokenizer.json sha256 "
                        "7da53ca29fb16f6b2489482fc0bc6a394162cdab14d12764a1755ebc583fea79",
           "source": "npm @huggingface/transformers via tools/siglip/gemma_ids.mjs",
           "cases": [{"text": t, "ids": i} for t, i in zip(texts, full)]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
