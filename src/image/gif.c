// GIF through giflib: the first frame on the logical screen, palette colors
// (transparency ignored, as PIL's P -> RGB conversion does).
#include "image/decode.h"
#include "base/err.h"

#include <gif_lib.h>
#include <stdlib.h>
#include <string.h>

#define GIF_FREE_SCREEN (16LL * 1000 * 1000) // larger screens must be backed by data (a frame that fills them)

static int on_read(GifFileType *g, GifByteType *buf, int len)
{
    return len < 0 ? 0 : (int)img__read(g->UserData, buf, (size_t)len);
}

static int gif_fail(GifFileType *g, const char *what)
{
    return lisa_seterr(LISA_EFORMAT, "GIF: %s: %s", what, GifErrorString(g->Error));
}

static int skip_extension(GifFileType *g)
{
    GifByteType *ext;
    int code;
    if (DGifGetExtension(g, &code, &ext) != GIF_OK) return gif_fail(g, "extension");
    while (ext)
        if (DGifGetExtensionNext(g, &ext) != GIF_OK) return gif_fail(g, "extension");
    return 0;
}

static void fill(img_t *im, const GifColorType *c)
{
    for (size_t i = 0, n = (size_t)im->w * im->h; i < n; i++) {
        im->px[i * 3] = c->Red;
        im->px[i * 3 + 1] = c->Green;
        im->px[i * 3 + 2] = c->Blue;
    }
}

// Reads the frame's rows (in Adam-like interlaced order if flagged) and
// paints the part that lies on the screen.
static int read_frame(GifFileType *g, img_t *im, GifByteType *line)
{
    const GifImageDesc *fd = &g->Image;
    const ColorMapObject *cm = fd->ColorMap ? fd->ColorMap : g->SColorMap;
    static const int start[4] = {0, 4, 2, 1}, step[4] = {8, 8, 4, 2};
    int passes = fd->Interlace ? 4 : 1;
    if (!cm) return lisa_seterr(LISA_EFORMAT, "GIF: no color map");
    for (int pass = 0; pass < passes; pass++) {
        for (int y = fd->Interlace ? start[pass] : 0; y < fd->Height; y += fd->Interlace ? step[pass] : 1) {
            if (DGifGetLine(g, line, fd->Width) != GIF_OK) return gif_fail(g, "image data");
            int sy = fd->Top + y;
            if (sy >= im->h) continue;
            for (int x = 0; x < fd->Width && fd->Left + x < im->w; x++) {
                const GifColorType *c = &cm->Colors[line[x] < cm->ColorCount ? line[x] : 0];
                uint8_t *p = im->px + ((size_t)sy * im->w + fd->Left + x) * 3;
                p[0] = c->Red, p[1] = c->Green, p[2] = c->Blue;
            }
        }
    }
    return 0;
}

static int first_frame(GifFileType *g, img_t *im)
{
    GifRecordType t;
    do {
        if (DGifGetRecordType(g, &t) != GIF_OK) return gif_fail(g, "record");
        if (t == EXTENSION_RECORD_TYPE) {
            int rc = skip_extension(g);
            if (rc < 0) return rc;
        }
    } while (t != IMAGE_DESC_RECORD_TYPE && t != TERMINATE_RECORD_TYPE);
    if (t == TERMINATE_RECORD_TYPE) return lisa_seterr(LISA_EFORMAT, "GIF: no image in file");
    if (DGifGetImageDesc(g) != GIF_OK) return gif_fail(g, "image descriptor");
    if (g->Image.Width <= 0 || g->Image.Height <= 0 || g->Image.Left < 0 || g->Image.Top < 0)
        return lisa_seterr(LISA_EFORMAT, "GIF: bad frame geometry");
    // The frame is decoded whole even where it overhangs the screen: cap it too.
    int rc = img__check_dims("GIF frame", g->Image.Width, g->Image.Height, (long long)im->w * im->h * 4);
    const img__reader *r = g->UserData;
    if (rc == 0)
        rc = img__check_data("GIF frame", (long long)(r->n - r->off),
                             (long long)g->Image.Width * g->Image.Height / IMG_LZW_MAX_RATIO);
    if (rc < 0) return rc;
    GifByteType *line = malloc((size_t)g->Image.Width);
    if (!line) return lisa_seterr(LISA_ENOMEM, "GIF: out of memory");
    rc = read_frame(g, im, line);
    free(line);
    return rc;
}

int img__decode_gif(const uint8_t *d, size_t n, const img_opts *o, img_t *out)
{
    img__reader r = {d, n, 0};
    int err, rc;
    memset(out, 0, sizeof *out);
    GifFileType *g = DGifOpen(&r, on_read, &err);
    if (!g) return lisa_seterr(LISA_EFORMAT, "GIF: %s", GifErrorString(err));
    long long screen = (long long)g->SWidth * g->SHeight; // painted from the data, but for a background margin
    if ((rc = img__check_dims("GIF", g->SWidth, g->SHeight, o->max_pixels)) < 0 ||
        (screen > GIF_FREE_SCREEN &&
         (rc = img__check_data("GIF", (long long)(n - r.off), screen / IMG_LZW_MAX_RATIO)) < 0) ||
        (rc = img_alloc(out, g->SWidth, g->SHeight)) < 0)
        goto done;
    GifColorType bg = {0, 0, 0};
    if (g->SColorMap && g->SBackGroundColor < g->SColorMap->ColorCount) bg = g->SColorMap->Colors[g->SBackGroundColor];
    fill(out, &bg);
    if ((rc = first_frame(g, out)) < 0) img_release(out);
done:
    DGifCloseFile(g, &err);
    return rc;
}
