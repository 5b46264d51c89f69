// lisa thumb: decode (DCT-scaled where it is free), orient, and write a JPEG
// thumbnail whose longest side is --size (THUMBNAIL_SIZE, default 320).
#include "cli/cli.h"
#include "base/err.h"
#include "image/image.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_thumb(int argc, char **argv)
{
    const char *env = getenv("LISA_THUMBNAIL_SIZE"), *in = NULL, *out = NULL;
    int size = env ? atoi(env) : IMG_THUMB_DEFAULT, quality = IMG_THUMB_QUALITY;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--size") && i + 1 < argc)
            size = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quality") && i + 1 < argc)
            quality = atoi(argv[++i]);
        else if (argv[i][0] != '-' && !in)
            in = argv[i];
        else if (argv[i][0] != '-' && !out)
            out = argv[i];
        else
            in = NULL, i = argc;
    }
    if (!in || !out || size < 16 || size > 4096 || quality < 1 || quality > 100) {
        fprintf(stderr, "usage: lisa thumb [--size 16..4096] [--quality 1..100] IMAGE OUT.jpg\n");
        return 2;
    }
    img_opts o;
    img_t im, th;
    img_opts_init(&o);
    o.min_long = size;
    if (img_load(in, &o, &im, NULL) < 0) return cli_fail("decode");
    int rc = img_thumbnail(&im, size, &th);
    img_release(&im);
    if (rc < 0) return cli_fail(in);
    rc = img_write_jpeg(&th, quality, out);
    img_release(&th);
    return rc < 0 ? cli_fail(out) : 0;
}
