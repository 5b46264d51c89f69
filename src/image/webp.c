// WebP through libwebp: still images (lossy, lossless, alpha dropped as PIL's
// convert("RGB") does) and the first frame of animations; EXIF orientation
// from the EXIF chunk.
#include "image/decode.h"
#include "base/err.h"

#include <string.h>
#include <webp/decode.h>
#include <webp/demux.h>

static int webp_orientation(const uint8_t *d, size_t n)
{
    WebPData data = {d, n};
    WebPDemuxer *dmx = WebPDemux(&data);
    WebPChunkIterator it;
    int o = 1;
    if (!dmx) return 1;
    if (WebPDemuxGetChunk(dmx, "EXIF", 1, &it)) {
        o = img_exif_orientation(it.chunk.bytes, it.chunk.size);
        WebPDemuxReleaseChunkIterator(&it);
    }
    WebPDemuxDelete(dmx);
    return o;
}

// First frame of an animation, composited by libwebp onto its canvas (RGBA).
static int decode_first_frame(const uint8_t *d, size_t n, img_t *out)
{
    WebPData data = {d, n};
    WebPAnimDecoderOptions ao;
    WebPAnimInfo info;
    uint8_t *rgba;
    int ts, rc = 0;
    WebPAnimDecoderOptionsInit(&ao);
    ao.color_mode = MODE_RGBA;
    WebPAnimDecoder *dec = WebPAnimDecoderNew(&data, &ao);
    if (!dec) return lisa_seterr(LISA_EFORMAT, "WebP: bad animation");
    if (!WebPAnimDecoderGetInfo(dec, &info) || !WebPAnimDecoderGetNext(dec, &rgba, &ts)) {
        rc = lisa_seterr(LISA_EFORMAT, "WebP: cannot decode the first frame");
    } else if ((rc = img_alloc(out, (int)info.canvas_width, (int)info.canvas_height)) == 0) {
        size_t px = (size_t)out->w * out->h;
        for (size_t i = 0; i < px; i++) memcpy(out->px + i * 3, rgba + i * 4, 3);
    }
    WebPAnimDecoderDelete(dec);
    return rc;
}

int img__decode_webp(const uint8_t *d, size_t n, const img_opts *o, img_t *out, int *orient)
{
    WebPBitstreamFeatures f;
    int rc;
    memset(out, 0, sizeof *out);
    if (WebPGetFeatures(d, n, &f) != VP8_STATUS_OK) return lisa_seterr(LISA_EFORMAT, "WebP: bad or truncated header");
    if ((rc = img__check_dims("WebP", f.width, f.height, o->max_pixels)) < 0) return rc;
    *orient = webp_orientation(d, n);
    if (f.has_animation) return decode_first_frame(d, n, out);
    if ((rc = img_alloc(out, f.width, f.height)) < 0) return rc;
    size_t size = (size_t)out->w * out->h * 3;
    if (!WebPDecodeRGBInto(d, n, out->px, size, out->w * 3)) {
        img_release(out);
        return lisa_seterr(LISA_EFORMAT, "WebP: corrupt or truncated image data");
    }
    return 0;
}
