// CLIP image preprocessing, identical to Hugging Face's CLIPImageProcessor on
// PIL: resize (shortest edge, PIL bicubic with antialias), center crop,
// rescale by 1/255, normalize by mean/std. Output is a CHW float tensor.
#ifndef LISA_IMAGE_PREPROCESS_H
#define LISA_IMAGE_PREPROCESS_H

#include "image/image.h"

typedef struct {
    int do_resize, do_center_crop, do_rescale, do_normalize;
    int shortest_edge;      // resize target for the short side; 0: use resize_w x resize_h
    int resize_w, resize_h; // exact resize (HF size {"height","width"}), aspect not kept
    int crop_h, crop_w;     // center crop size
    double rescale;         // usually 1/255
    float mean[3], std[3];
} prep_cfg;

// The defaults of openai/clip-vit-base-patch32 (224, CLIP mean/std).
void prep_cfg_default(prep_cfg *c);

// Reads a preprocessor_config.json (HF keys: size {shortest_edge} or int,
// crop_size {height,width} or int, do_*, rescale_factor, image_mean,
// image_std, resample which must be 3 = bicubic). Missing keys keep the
// defaults; bad values are refused naming the file and the key.
int prep_cfg_load(const char *path, prep_cfg *c);

// Output size of the shortest-edge resize, as HF computes it:
// the long side is int(size * long / short).
void prep_resize_dims(int w, int h, int size, int *ow, int *oh);

// Resizes src to ow x oh with PIL's BICUBIC filter (a = -0.5, support scaled
// when downsampling, 8-bit fixed-point coefficients, horizontal pass first),
// matching Image.resize() to the byte. dst is allocated; caller releases it.
int img_resize_bicubic(const img_t *src, int ow, int oh, img_t *dst);

// Center crop (or zero pad, as HF's center_crop does) of src to w x h.
int img_center_crop(const img_t *src, int w, int h, img_t *out);

// The resized and center-cropped uint8 image that the tensor is made from.
int prep_pixels(const img_t *src, const prep_cfg *c, img_t *out);

// Full pipeline into out, a caller-owned float buffer of 3*crop_h*crop_w
// values in CHW order (the layout of HF pixel_values without the batch dim).
int prep_image(const img_t *src, const prep_cfg *c, float *out);

#endif
