// C wrapper over sentencepiece::SentencePieceProcessor (see spm_shim.h).
#include "siglip/spm_shim.h"

#include <sentencepiece_processor.h>

#include <cstdio>
#include <new>
#include <string>
#include <vector>

struct spm_proc {
    sentencepiece::SentencePieceProcessor sp;
};

int spm_shim_load(const void *proto, size_t n, spm_proc **out, char *err, size_t errcap)
{
    *out = nullptr;
    spm_proc *p = new (std::nothrow) spm_proc;
    if (!p) return std::snprintf(err, errcap, "out of memory"), -1;
    try {
        auto st = p->sp.LoadFromSerializedProto(std::string(static_cast<const char *>(proto), n));
        if (!st.ok()) {
            std::snprintf(err, errcap, "%s", st.ToString().c_str());
            delete p;
            return -1;
        }
    } catch (const std::exception &e) {
        std::snprintf(err, errcap, "%s", e.what());
        delete p;
        return -1;
    }
    *out = p;
    return 0;
}

void spm_shim_free(spm_proc *p)
{
    delete p;
}

int spm_shim_encode(const spm_proc *p, const char *text, size_t len, int32_t *ids, int cap)
{
    std::vector<int> v;
    try {
        if (!p->sp.Encode(std::string(text, len), &v).ok()) return -1;
    } catch (const std::exception &) {
        return -1;
    }
    for (size_t i = 0; i < v.size() && i < static_cast<size_t>(cap); i++) ids[i] = v[i];
    return v.size() > 0x7fffffff ? -1 : static_cast<int>(v.size());
}

int spm_shim_size(const spm_proc *p)
{
    return p->sp.GetPieceSize();
}

int spm_shim_piece_id(const spm_proc *p, const char *piece)
{
    return p->sp.PieceToId(piece);
}

int spm_shim_unk_id(const spm_proc *p)
{
    return p->sp.unk_id();
}
