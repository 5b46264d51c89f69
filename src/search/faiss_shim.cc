// The FAISS shim (see faiss_shim.h): C entry points, exceptions turned into
// LISA error codes.
#include "search/faiss_shim.h"

extern "C" {
#include "base/err.h"
}

#include <faiss/AutoTune.h>
#include <faiss/Index.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexScalarQuantizer.h>
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

extern "C" int fshim_ivf_raw_codes(fshim *f)
{
    auto *ivf = dynamic_cast<faiss::IndexIVFScalarQuantizer *>(f->ix);
    if (!ivf) return lisa_seterr(LISA_EINVAL, "faiss: raw codes need an IVF scalar-quantizer index");
    if (ivf->is_trained) return lisa_seterr(LISA_EINVAL, "faiss: raw codes must be chosen before training");
    ivf->by_residual = false;
    return 0;
}

static const faiss::IndexIVFScalarQuantizer *ivf_fp16(const fshim *f)
{
    auto *ivf = dynamic_cast<const faiss::IndexIVFScalarQuantizer *>(f->ix);
    if (!ivf || ivf->sq.qtype != faiss::ScalarQuantizer::QT_fp16 || ivf->code_size != 2 * (size_t)ivf->d ||
        ivf->by_residual)
        return nullptr;
    return ivf;
}

extern "C" int fshim_ivf_probe(const fshim *f, const float *q, int nprobe, int64_t *lists, int *np)
{
    const auto *ivf = ivf_fp16(f);
    *np = 0;
    if (!ivf) return lisa_seterr(LISA_EUNSUPPORTED, "faiss: list access needs an IVF index with fp16 codes");
    int p = nprobe < 1 ? 1 : nprobe > (int)ivf->nlist ? (int)ivf->nlist : nprobe;
    std::vector<float> d((size_t)p);
    int rc = guard("probe", [&] { ivf->quantizer->search(1, q, p, d.data(), (idx_t *)lists); });
    if (rc == 0) *np = p;
    return rc;
}

extern "C" int fshim_ivf_list(const fshim *f, int64_t l, const uint16_t **codes, const int64_t **ids, size_t *n)
{
    const auto *ivf = ivf_fp16(f);
    *codes = nullptr, *ids = nullptr, *n = 0;
    if (!ivf) return lisa_seterr(LISA_EUNSUPPORTED, "faiss: list access needs an IVF index with fp16 codes");
    if (l < 0 || (size_t)l >= ivf->nlist)
        return lisa_seterr(LISA_EINVAL, "faiss: list %lld out of range", (long long)l);
    return guard("list", [&] {
        *n = ivf->invlists->list_size((size_t)l);
        *codes = (const uint16_t *)ivf->invlists->get_codes((size_t)l);
        *ids = (const int64_t *)ivf->invlists->get_ids((size_t)l);
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
