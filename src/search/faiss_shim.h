// A small C interface over FAISS (Debian's libfaiss-dev 1.7.3 packages the C
// API headers but not its library, so this shim, src/search/faiss_shim.cc,
// is the only C++ in LISA). Inner-product indexes with int64 ids; every call
// catches FAISS's exceptions and returns 0 or a negative LISA_E* code with
// the reason in lisa_errmsg(). One index is used by one thread at a time
// (searches may share it: FAISS searches are const).
#ifndef LISA_SEARCH_FAISS_SHIM_H
#define LISA_SEARCH_FAISS_SHIM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fshim fshim;

// A new empty index from a FAISS factory string ("IVF1024,SQ8", "HNSW32,SQ8"
// ...) over dim-d vectors, metric inner product. *out is the caller's:
// fshim_free() it.
int fshim_new(const char *factory, int dim, fshim **out);
void fshim_free(fshim *f);

// Trains on n vectors (row-major float32). 0 when the index needs none.
int fshim_train(fshim *f, size_t n, const float *x);
int fshim_is_trained(const fshim *f);
// IVF only: k-means iterations of the coarse quantizer's training (FAISS's
// default is 25).
int fshim_set_kmeans(fshim *f, int niter);
// Adds n vectors with their ids (ids may be NULL for sequential ones).
int fshim_add(fshim *f, size_t n, const float *x, const int64_t *ids);
// Removes every vector whose id is in ids (n of them); *removed (may be NULL)
// gets how many went.
int fshim_remove(fshim *f, const int64_t *ids, size_t n, size_t *removed);
// Vectors in the index.
int64_t fshim_count(const fshim *f);
// Sets a search parameter by FAISS's ParameterSpace name ("nprobe",
// "efSearch"...).
int fshim_set(fshim *f, const char *name, double value);
// The k best by inner product of one query: scores and ids (-1 pads when
// there are fewer than k). sel (NULL: none) restricts the search to the nsel
// ids it lists (FAISS IDSelectorBatch).
int fshim_search(const fshim *f, const float *q, int k, const int64_t *sel, size_t nsel, float *scores, int64_t *ids);
// IVF with scalar-quantizer codes: encode the vectors themselves, not their
// residuals to the list centre (FAISS's default), so fp16 codes are the
// added values exactly. Call before training.
int fshim_ivf_raw_codes(fshim *f);
// IVF with raw fp16 codes ("IVFn,SQfp16") only, else LISA_EUNSUPPORTED: the
// lists a query visits and each list's raw contents, so the caller can scan
// them with its own fp16 kernel (Debian's FAISS is a baseline x86-64 build).
// fshim_ivf_probe: the nprobe lists (by the coarse quantizer) nearest q into
// lists (nprobe entries; -1 pads), nprobe capped to the list count (*np).
int fshim_ivf_probe(const fshim *f, const float *q, int nprobe, int64_t *lists, int *np);
// List l's n codes (n x dim IEEE fp16, FAISS's own encoding of the added
// float32 values) and their ids; valid until the index next changes.
int fshim_ivf_list(const fshim *f, int64_t l, const uint16_t **codes, const int64_t **ids, size_t *n);
// Serialises to / reads from an open stdio stream (FAISS's own format).
int fshim_write(const fshim *f, FILE *out);
int fshim_read(FILE *in, fshim **out);
// OpenMP threads FAISS uses for training and adding (search is one query).
void fshim_threads(int n);

#ifdef __cplusplus
}
#endif

#endif
