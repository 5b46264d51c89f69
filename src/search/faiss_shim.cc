// The FAISS shim (see faiss_shim.h): C entry points, exceptions turned into
// LISA error codes.
#include "search/faiss_shim.h"

extern "C" {
#include "base/err.h"
}

#include <faiss/AutoTune.h>
#include <faiss/Index.h>
#include <faiss/IndexIVF.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/impl/io.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>

#include <omp.h>

#include <exception>
#include <memory>
#include <new>
#include <vector>

struct fshim {
    faiss::Index *ix;
};

using idx_t = faiss::Index::idx_t;

template <typename F> static int guard(const char *what, F fn)
{
    try {
        fn();
        return 0;
    } catch (const std::bad_alloc &) {
        return lisa_seterr(LISA_ENOMEM, "faiss: %s: out of memory", what);
    } catch (const std::exception &e) {
        return lisa_seterr(LISA_EINVAL, "faiss: %s: %s", what, e.what());
    } catch (...) {
        return lisa_seterr(LISA_EINVAL, "faiss: %s: unknown error", what);
    }
}

extern "C" int fshim_new(const char *factory, int dim, fshim **out)
{
    *out = nullptr;
    fshim *f = new (std::nothrow) fshim{nullptr};
    if (!f) return lisa_seterr(LISA_ENOMEM, "faiss: index handle");
    int rc = guard("index_factory", [&] { f->ix = faiss::index_factory(dim, factory, faiss::METRIC_INNER_PRODUCT); });
    if (rc < 0) {
        delete f;
        return rc;
    }
    *out = f;
    return 0;
}

extern "C" void fshim_free(fshim *f)
{
    if (!f) return;
    delete f->ix;
    delete f;
}

extern "C" int fshim_train(fshim *f, size_t n, const float *x)
{
    if (f->ix->is_trained) return 0;
    return guard("train", [&] { f->ix->train((idx_t)n, x); });
}

extern "C" int fshim_set_kmeans(fshim *f, int niter)
{
    auto *ivf = dynamic_cast<faiss::IndexIVF *>(f->ix);
    if (!ivf) return lisa_seterr(LISA_EINVAL, "faiss: k-means settings need an IVF index");
    ivf->cp.niter = niter;
    return 0;
}

extern "C" int fshim_is_trained(const fshim *f)
{
    return f->ix->is_trained;
}

extern "C" int fshim_add(fshim *f, size_t n, const float *x, const int64_t *ids)
{
    return guard("add", [&] {
        if (ids)
            f->ix->add_with_ids((idx_t)n, x, (const idx_t *)ids);
        else
            f->ix->add((idx_t)n, x);
    });
}

extern "C" int fshim_remove(fshim *f, const int64_t *ids, size_t n, size_t *removed)
{
    size_t r = 0;
    int rc = guard("remove_ids", [&] {
        faiss::IDSelectorBatch sel(n, (const idx_t *)ids);
        r = f->ix->remove_ids(sel);
    });
    if (removed) *removed = r;
    return rc;
}

extern "C" int64_t fshim_count(const fshim *f)
{
    return (int64_t)f->ix->ntotal;
}

extern "C" int fshim_set(fshim *f, const char *name, double value)
{
    return guard("set parameter", [&] { faiss::ParameterSpace().set_index_parameter(f->ix, name, value); });
}

extern "C" int fshim_search(const fshim *f, const float *q, int k, const int64_t *sel, size_t nsel, float *scores,
                            int64_t *ids)
{
    return guard("search", [&] {
        if (!sel) {
            f->ix->search(1, q, k, scores, (idx_t *)ids);
            return;
        }
        faiss::IDSelectorBatch s(nsel, (const idx_t *)sel);
        auto *ivf = dynamic_cast<const faiss::IndexIVF *>(f->ix);
        if (ivf) {
            faiss::SearchParametersIVF p;
            p.nprobe = ivf->nprobe;
            p.sel = &s;
            f->ix->search(1, q, k, scores, (idx_t *)ids, &p);
        } else {
            faiss::SearchParameters p;
            p.sel = &s;
            f->ix->search(1, q, k, scores, (idx_t *)ids, &p);
        }
    });
}

extern "C" int fshim_write(const fshim *f, FILE *out)
{
    return guard("write_index", [&] {
        faiss::FileIOWriter w(out);
        faiss::write_index(f->ix, &w);
    });
}

extern "C" int fshim_read(FILE *in, fshim **out)
{
    *out = nullptr;
    fshim *f = new (std::nothrow) fshim{nullptr};
    if (!f) return lisa_seterr(LISA_ENOMEM, "faiss: index handle");
    int rc = guard("read_index", [&] {
        faiss::FileIOReader r(in);
        f->ix = faiss::read_index(&r);
    });
    if (rc < 0) {
        delete f;
        return rc;
    }
    *out = f;
    return 0;
}

extern "C" void fshim_threads(int n)
{
    omp_set_num_threads(n < 1 ? 1 : n);
}
