// BMP through Leptonica's reader (pixReadMemBmp), matching PIL 9.4's
// Image.open(f).convert("RGB") pixel for pixel.
//
// Leptonica 1.82 reads only uncompressed files with a 40/108/124-byte header
// whose size matches the pixel data exactly, rejects what PIL ignores
// (biSizeImage, resolution), drops a 1-bit palette, and keeps 16/32-bit
// pixels as raw words. So the header is read here the way PIL
// reads it and checked (sizes capped before anything is allocated), and
// Leptonica gets a normalized copy: a 40-byte BI_RGB header, no palette, then
// the pixel rows. It unpacks the rows (bit depth, padding, bottom-up or
// top-down); the palette and the channel layout are applied here as PIL does.
#include "image/decode.h"
#include "base/err.h"

#include <allheaders.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define FH_BYTES 14            // BITMAPFILEHEADER
#define IH_BYTES 40            // BITMAPINFOHEADER
#define MAX_SIDE 1000000       // Leptonica 1.82's L_MAX_ALLOWED_WIDTH / HEIGHT
#define MAX_PIXELS 400000000LL // and L_MAX_ALLOWED_PIXELS

enum { BI_RGB = 0, BI_RLE8 = 1, BI_RLE4 = 2, BI_BITFIELDS = 3, BI_JPEG = 4, BI_PNG = 5 };

typedef struct {
    uint32_t hsize;   // info header size: 40, 64, 108 or 124
    int32_t w, h;     // h < 0: rows stored top-down
    int bits;         // 1, 4, 8, 16, 24 or 32
    uint32_t comp;    // BI_RGB or BI_BITFIELDS
    uint32_t colors;  // palette entries (bits <= 8)
    uint32_t mask[4]; // r, g, b, a channel masks (BI_BITFIELDS)
    uint64_t off;     // pixel data offset, as PIL resolves it
    uint64_t stride;  // bytes per stored row, padded to 4
    uint64_t data;    // stride * rows
    uint64_t avail;   // bytes of that in the file (the last row's padding may be missing)
} bmp_hdr;

static uint32_t rd16(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}
static uint32_t rd32(const uint8_t *p)
{
    return rd16(p) | rd16(p + 2) << 16;
}

static void wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> 8 * i);
}

// ---------------------------------------------------------------- header

static int check_compression(bmp_hdr *b)
{
    static const char *const names[] = {"RLE8", "RLE4", "BITFIELDS", "embedded JPEG", "embedded PNG"};
    if (b->comp == BI_RGB) return 0;
    if (b->comp == BI_BITFIELDS && b->bits >= 16) return 0;
    if (b->comp >= BI_RLE8 && b->comp <= BI_PNG)
        return lisa_seterr(LISA_EUNSUPPORTED, "BMP: %s compression not supported%s", names[b->comp - 1],
                           b->comp == BI_BITFIELDS ? " below 16 bits per pixel" : "");
    return lisa_seterr(LISA_EUNSUPPORTED, "BMP: unknown compression %u", b->comp);
}

// The channel masks PIL 9.4 accepts (BmpImagePlugin SUPPORTED); the masks sit
// at offset 54 whatever the header size, and a 40-byte header has no alpha mask.
static int check_masks(const uint8_t *d, bmp_hdr *b)
{
    static const uint32_t ok32[][4] = {
        {0xFF0000, 0xFF00, 0xFF, 0},          {0xFF000000, 0xFF0000, 0xFF00, 0},
        {0xFF000000, 0xFF0000, 0xFF00, 0xFF}, {0xFF, 0xFF00, 0xFF0000, 0xFF000000},
        {0xFF0000, 0xFF00, 0xFF, 0xFF000000}, {0, 0, 0, 0},
    };
    static const uint32_t ok16[][3] = {{0xF800, 0x7E0, 0x1F}, {0x7C00, 0x3E0, 0x1F}};
    if (b->comp != BI_BITFIELDS) return 0;
    for (int i = 0; i < 4; i++) b->mask[i] = i < 3 || b->hsize > IH_BYTES ? rd32(d + FH_BYTES + IH_BYTES + 4 * i) : 0;
    if (b->bits == 32) {
        for (size_t i = 0; i < sizeof ok32 / sizeof ok32[0]; i++)
            if (!memcmp(b->mask, ok32[i], sizeof ok32[i])) return 0;
    } else if (b->bits == 24) {
        if (b->mask[0] == 0xFF0000 && b->mask[1] == 0xFF00 && b->mask[2] == 0xFF) return 0;
    } else {
        for (size_t i = 0; i < sizeof ok16 / sizeof ok16[0]; i++)
            if (!memcmp(b->mask, ok16[i], sizeof ok16[i])) return 0;
    }
    return lisa_seterr(LISA_EUNSUPPORTED, "BMP: %d-bit BITFIELDS masks %08x/%08x/%08x/%08x not supported", b->bits,
                       b->mask[0], b->mask[1], b->mask[2], b->mask[3]);
}

static int check_depth(int bits)
{
    if (bits == 1 || bits == 4 || bits == 8 || bits == 16 || bits == 24 || bits == 32) return 0;
    if (bits == 2 || bits == 64) // valid in later BMP versions; PIL refuses them too
        return lisa_seterr(LISA_EUNSUPPORTED, "BMP: %d-bit pixels not supported", bits);
    return lisa_seterr(LISA_EFORMAT, "BMP: invalid bit depth %d", bits);
}

// Palette size and pixel data offset, both as PIL resolves them.
static int locate_data(size_t n, bmp_hdr *b)
{
    uint64_t pal = FH_BYTES + (uint64_t)b->hsize, pal_end = pal;
    if (b->bits <= 8) {
        if (b->colors == 0) b->colors = 1u << b->bits;
        if (b->colors > 256)
            return lisa_seterr(LISA_EUNSUPPORTED, "BMP: palette of %u colors (at most 256)", b->colors);
        pal_end += 4 * (uint64_t)b->colors;
        if (pal_end > n)
            return lisa_seterr(LISA_EFORMAT, "BMP: palette of %u colors runs past the end of the file (%zu bytes)",
                               b->colors, n);
        if (b->off == pal) b->off = pal_end; // PIL: an offset right after the header skips the palette
    } else if (b->comp == BI_BITFIELDS && b->hsize == IH_BYTES) {
        pal_end += 12; // the three masks
    }
    if (b->off == 0) b->off = pal_end; // PIL reads on from where the header ended
    if (b->off > n)
        return lisa_seterr(LISA_EFORMAT, "BMP: pixel data offset %llu is past the end of the file (%zu bytes)",
                           (unsigned long long)b->off, n);
    b->stride = ((uint64_t)b->w * (uint64_t)b->bits + 31) / 32 * 4;
    b->data = b->stride * (uint64_t)(b->h < 0 ? -(int64_t)b->h : b->h);
    // Like PIL, allow the last stored row to lack its padding.
    uint64_t need = b->data - b->stride + ((uint64_t)b->w * (uint64_t)b->bits + 7) / 8;
    if (need > n - b->off)
        return lisa_seterr(LISA_EFORMAT, "BMP: pixel data truncated: %llu bytes at offset %llu, file has %zu",
                           (unsigned long long)need, (unsigned long long)b->off, n);
    b->avail = n - b->off < b->data ? n - b->off : b->data;
    if (b->data > INT32_MAX - FH_BYTES - IH_BYTES) // Leptonica sizes the data with an int32
        return lisa_seterr(LISA_ETOOBIG, "BMP: %llu bytes of pixel data is too large", (unsigned long long)b->data);
    return 0;
}

static int read_header(const uint8_t *d, size_t n, const img_opts *o, bmp_hdr *b)
{
    memset(b, 0, sizeof *b);
    if (n < FH_BYTES + 4) return lisa_seterr(LISA_EFORMAT, "BMP: file header truncated (%zu bytes)", n);
    b->hsize = rd32(d + FH_BYTES);
    if (b->hsize == 12) return lisa_seterr(LISA_EUNSUPPORTED, "BMP: OS/2 1.x header (12 bytes) not supported");
    if (b->hsize != 40 && b->hsize != 64 && b->hsize != 108 && b->hsize != 124)
        return lisa_seterr(LISA_EFORMAT, "BMP: info header size %u is not 40, 64, 108 or 124", b->hsize);
    uint64_t need = FH_BYTES + (uint64_t)b->hsize + (b->hsize == IH_BYTES ? 12 : 0);
    const uint8_t *ih = d + FH_BYTES;
    if (n < FH_BYTES + b->hsize)
        return lisa_seterr(LISA_EFORMAT, "BMP: info header truncated (%u bytes, file has %zu)", b->hsize, n);
    b->w = (int32_t)rd32(ih + 4);
    b->h = (int32_t)rd32(ih + 8);
    b->bits = (int)rd16(ih + 14);
    b->comp = rd32(ih + 16);
    b->colors = rd32(ih + 32);
    b->off = rd32(d + 10);
    long long ah = b->h < 0 ? -(long long)b->h : b->h;
    int rc;
    if (b->w <= 0 || b->h == 0)
        return lisa_seterr(LISA_EFORMAT, "BMP: bad image size (width %d, height %d)", (int)b->w, (int)b->h);
    if ((rc = img__check_dims("BMP", b->w, ah, o->max_pixels)) < 0) return rc;
    if (b->w > MAX_SIDE || ah > MAX_SIDE || (long long)b->w * ah > MAX_PIXELS)
        return lisa_seterr(LISA_ETOOBIG, "BMP: %dx%lld is over Leptonica's limit (%d per side, %lld pixels)", (int)b->w,
                           ah, MAX_SIDE, MAX_PIXELS);
    if ((rc = check_depth(b->bits)) < 0 || (rc = check_compression(b)) < 0) return rc;
    if (b->comp == BI_BITFIELDS && n < need)
        return lisa_seterr(LISA_EFORMAT, "BMP: BITFIELDS masks truncated (file has %zu bytes)", n);
    if ((rc = check_masks(d, b)) < 0) return rc;
    return locate_data(n, b);
}

// ---------------------------------------------------------------- palette

// Color of each index as PIL's P -> RGB conversion gives it: palette entries
// are B, G, R, reserved; indices past the palette are gray (i, i, i).
static int build_lut(const uint8_t *d, const bmp_hdr *b, uint8_t lut[256][3])
{
    const uint8_t *pal = d + FH_BYTES + b->hsize;
    int gray = 1;
    for (uint32_t i = 0; i < b->colors; i++) {
        // PIL drops a palette that is all gray steps (0, 255 for two colors)
        // and reads the data as mode "1" or "L", right only at 1 or 8 bits.
        uint8_t v = b->colors == 2 ? (uint8_t)(i ? 255 : 0) : (uint8_t)i;
        gray &= pal[4 * i] == v && pal[4 * i + 1] == v && pal[4 * i + 2] == v;
    }
    if (gray && !(b->colors == 2 ? b->bits == 1 : b->bits == 8))
        return lisa_seterr(LISA_EUNSUPPORTED, "BMP: %d-bit pixels with a %u-entry gray palette not supported", b->bits,
                           b->colors);
    for (uint32_t i = 0; i < 256; i++) {
        if (i < b->colors)
            lut[i][0] = pal[4 * i + 2], lut[i][1] = pal[4 * i + 1], lut[i][2] = pal[4 * i];
        else
            memset(lut[i], (int)i, 3);
    }
    return 0;
}

// ---------------------------------------------------------------- pixels

// Leptonica reports errors on stderr; ours go through lisa_seterr(). The
// threshold is process-global (Tesseract's Leptonica calls share it), so it is
// set once, before our first Leptonica call. read_header() already refuses
// everything Leptonica would complain about; this only keeps an
// allocation failure from printing.
static pthread_once_t quiet_once = PTHREAD_ONCE_INIT;
static void quiet(void)
{
    setMsgSeverity(L_SEVERITY_NONE);
}

// The file with a plain 40-byte BI_RGB header and no palette, which
// Leptonica reads as raw indices or words whatever the original header was.
static PIX *read_normalized(const uint8_t *d, const bmp_hdr *b)
{
    size_t len = FH_BYTES + IH_BYTES + (size_t)b->data;
    uint8_t *f = calloc(1, len);
    if (!f) return NULL;
    f[0] = 'B', f[1] = 'M';
    wr32(f + 2, (uint32_t)len);
    wr32(f + 10, FH_BYTES + IH_BYTES);
    uint8_t *ih = f + FH_BYTES;
    wr32(ih, IH_BYTES);
    wr32(ih + 4, (uint32_t)b->w);
    wr32(ih + 8, (uint32_t)b->h);
    ih[12] = 1; // planes
    ih[14] = (uint8_t)b->bits;
    memcpy(f + FH_BYTES + IH_BYTES, d + b->off, (size_t)b->avail); // the rest stays zero
    pthread_once(&quiet_once, quiet);
    PIX *pix = pixReadMemBmp(f, len);
    free(f);
    return pix;
}

static uint8_t scale(uint32_t v, uint32_t max)
{
    return (uint8_t)(v * 255 / max);
}

// One row of Leptonica's PIX into RGB. Leptonica keeps 16/32-bit BMP pixels as
// the file's bytes in big-endian words, so those are swapped back to the
// file's little-endian values first; 24-bit ones are proper RGBA words.
static void convert_row(const l_uint32 *line, const bmp_hdr *b, const uint8_t lut[256][3], uint8_t *dst)
{
    static const uint32_t bgrx[4] = {0xFF0000, 0xFF00, 0xFF, 0};
    const uint32_t *m = b->comp == BI_BITFIELDS && (b->mask[0] | b->mask[1] | b->mask[2]) ? b->mask : bgrx;
    const int is565 = b->comp == BI_BITFIELDS && b->mask[1] == 0x7E0;
    for (int x = 0; x < b->w; x++, dst += 3) {
        uint32_t v;
        l_int32 r, g, bl;
        switch (b->bits) {
        case 1: memcpy(dst, lut[GET_DATA_BIT(line, x)], 3); break;
        case 4: memcpy(dst, lut[GET_DATA_QBIT(line, x)], 3); break;
        case 8: memcpy(dst, lut[GET_DATA_BYTE(line, x)], 3); break;
        case 16:
            v = GET_DATA_TWO_BYTES(line, x);
            v = (v >> 8 | v << 8) & 0xFFFF;
            dst[0] = is565 ? scale(v >> 11 & 31, 31) : scale(v >> 10 & 31, 31);
            dst[1] = is565 ? scale(v >> 5 & 63, 63) : scale(v >> 5 & 31, 31);
            dst[2] = scale(v & 31, 31);
            break;
        case 24:
            extractRGBValues(line[x], &r, &g, &bl);
            dst[0] = (uint8_t)r, dst[1] = (uint8_t)g, dst[2] = (uint8_t)bl;
            break;
        default: // 32: each mask PIL accepts is one whole byte
            v = __builtin_bswap32(line[x]);
            for (int c = 0; c < 3; c++) dst[c] = (uint8_t)((v & m[c]) >> __builtin_ctz(m[c]));
        }
    }
}

int img__decode_bmp(const uint8_t *d, size_t n, const img_opts *o, img_t *out)
{
    bmp_hdr b;
    uint8_t lut[256][3];
    int rc;
    memset(out, 0, sizeof *out);
    if ((rc = read_header(d, n, o, &b)) < 0) return rc;
    if (b.bits <= 8 && (rc = build_lut(d, &b, lut)) < 0) return rc;
    PIX *pix = read_normalized(d, &b);
    if (!pix) // every input check it makes was done above
        return lisa_seterr(LISA_ENOMEM, "BMP: Leptonica could not read the %dx%lld image (out of memory)", (int)b.w,
                           b.h < 0 ? -(long long)b.h : b.h);
    if (pixGetWidth(pix) != b.w || pixGetDepth(pix) != (b.bits == 24 ? 32 : b.bits) || pixGetColormap(pix)) {
        rc = lisa_seterr(LISA_EFORMAT, "BMP: Leptonica returned an unexpected %d-bit image", pixGetDepth(pix));
    } else if ((rc = img_alloc(out, b.w, pixGetHeight(pix))) == 0) {
        const l_uint32 *data = pixGetData(pix);
        const size_t wpl = (size_t)pixGetWpl(pix);
        for (int y = 0; y < out->h; y++) convert_row(data + y * wpl, &b, lut, out->px + (size_t)y * out->w * 3);
    }
    pixDestroy(&pix);
    return rc;
}
