// Shared helpers for the cmocka suites. Tests run from the repository root.
#ifndef LISA_TESTUTIL_H
#define LISA_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <cjson/cJSON.h>

// Path under tests/data/ (static buffer, valid until the next call).
const char *tu_data(const char *rel);

// A fresh empty directory under tests/tmp/ for this process; path is static.
const char *tu_tmpdir(void);

// Path of name inside tu_tmpdir() (static buffer, valid until the next call).
const char *tu_tmp(const char *name);

// Writes n bytes to path; fails the test on error.
void tu_write(const char *path, const void *data, size_t n);

// Reads a whole file into a malloc'd buffer (caller frees); fails on error.
uint8_t *tu_read(const char *path, size_t *n);

// Copies the file src to dst (created or replaced); fails the test on error.
void tu_copy(const char *src, const char *dst);

// A JSON array of numbers as malloc'd floats (caller frees); *n its length.
float *tu_floats(const cJSON *arr, int *n);

// Path rel inside the build dir this test belongs to: $LISA_BUILD (tests/run.sh
// sets it), else the folder above this binary's tests/ (build/tests/test_x ->
// build). So build/debug/tests/* run build/debug/lisa on build/debug's
// fixtures. Static buffer, one of 8 reused in turn.
const char *tu_build(const char *rel);

// Runs cmd through sh with stderr folded into stdout; *out gets the output
// (caller frees). Returns the exit status, -1 when cmd did not exit.
int tu_run(const char *cmd, char **out);

// The fixture models dir (tests/setup/clip_models.sh output): the first of
// $LISA_BUILD, build, build/debug whose models/probe exists, as "DIR/models"
// into out. 0, or -1 with a message naming the setup scripts to run.
int tu_find_models(const char *probe, char *out, size_t cap, const char *scripts);

// Uniform in [-1, 1) from xorshift64 state *rng (each suite keeps its own
// seed, so its inputs do not depend on the order tests run in).
float tu_frand(uint64_t *rng);
// n values tu_frand(rng) * scale (caller frees; fails the test without memory).
float *tu_rvec(uint64_t *rng, size_t n, float scale);

#endif
