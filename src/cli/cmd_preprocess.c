// lisa preprocess: run the CLIP image preprocessing on one image and write the
// result, for inspection and for comparing with other implementations.
#include "cli/cli.h"
#include "base/err.h"
#include "base/file.h"
#include "image/preprocess.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] = "usage: lisa preprocess [--config preprocessor_config.json] [--max-pixels N]\n"
                            "                       [--pixels OUT.ppm] [--tensor OUT.f32] IMAGE\n"
                            "  --pixels  the resized, cropped 8-bit image (binary PPM)\n"
                            "  --tensor  the normalized CHW float32 tensor (raw little-endian)\n";

static int write_ppm(const img_t *im, const char *path)
{
    char hdr[64];
    int n = snprintf(hdr, sizeof hdr, "P6\n%d %d\n255\n", im->w, im->h);
    size_t size = (size_t)n + (size_t)im->w * im->h * 3;
    char *buf = malloc(size);
    if (!buf) return lisa_seterr(LISA_ENOMEM, "out of memory");
    memcpy(buf, hdr, (size_t)n);
    memcpy(buf + n, im->px, size - (size_t)n);
    int rc = lisa_write_file_atomic(path, buf, size);
    free(buf);
    return rc;
}

static int write_tensor(const img_t *im, const prep_cfg *c, const char *path)
{
    size_t n = (size_t)3 * c->crop_h * c->crop_w;
    float *t = malloc(n * sizeof *t);
    if (!t) return lisa_seterr(LISA_ENOMEM, "out of memory");
    int rc = prep_image(im, c, t);
    if (rc == 0) rc = lisa_write_file_atomic(path, t, n * sizeof *t);
    free(t);
    return rc;
}

int cmd_preprocess(int argc, char **argv)
{
    const char *cfg_path = NULL, *pixels = NULL, *tensor = NULL, *image = NULL;
    img_opts o;
    img_opts_init(&o);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            cfg_path = argv[++i];
        else if (!strcmp(argv[i], "--pixels") && i + 1 < argc)
            pixels = argv[++i];
        else if (!strcmp(argv[i], "--tensor") && i + 1 < argc)
            tensor = argv[++i];
        else if (!strcmp(argv[i], "--max-pixels") && i + 1 < argc)
            o.max_pixels = atoll(argv[++i]);
        else if (argv[i][0] != '-' && !image)
            image = argv[i];
        else
            return fprintf(stderr, "%s", usage), 2;
    }
    if (!image) return fprintf(stderr, "%s", usage), 2;
    prep_cfg c;
    prep_cfg_default(&c);
    if (cfg_path && prep_cfg_load(cfg_path, &c) < 0) return cli_fail("config");
    img_t im, px;
    int orient;
    if (img_load(image, &o, &im, &orient) < 0) return cli_fail("decode");
    int rc = prep_pixels(&im, &c, &px);
    if (rc == 0) {
        printf("%s: %dx%d, orientation %d -> %dx%d\n", image, im.w, im.h, orient, px.w, px.h);
        if (pixels && (rc = write_ppm(&px, pixels)) < 0) cli_fail(pixels);
        if (rc == 0 && tensor && (rc = write_tensor(&im, &c, tensor)) < 0) cli_fail(tensor);
    } else {
        cli_fail("preprocess");
    }
    img_release(&px);
    img_release(&im);
    return rc < 0;
}
