// A C interface to Debian's libsentencepiece (C++), the part SigLIP 1's
// tokenizer needs: load a serialized ModelProto, encode to ids, look up pieces.
// Implemented in spm_shim.cc; nothing here knows about SigLIP.
#ifndef LISA_SIGLIP_SPM_SHIM_H
#define LISA_SIGLIP_SPM_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct spm_proc spm_proc;

// Loads n bytes of a serialized sentencepiece ModelProto. On failure returns
// -1 with the library's message in err (errcap bytes). The caller owns *out
// and frees it with spm_shim_free(); a loaded processor is const and may be
// shared by threads.
int spm_shim_load(const void *proto, size_t n, spm_proc **out, char *err, size_t errcap);
void spm_shim_free(spm_proc *p);

// Encodes len bytes of text to ids; writes at most cap of them and returns how
// many there are (which may exceed cap), or -1 on a library error.
int spm_shim_encode(const spm_proc *p, const char *text, size_t len, int32_t *ids, int cap);

// Vocabulary size, the id of a piece (the unknown id when it is none), and
// the unknown id.
int spm_shim_size(const spm_proc *p);
int spm_shim_piece_id(const spm_proc *p, const char *piece);
int spm_shim_unk_id(const spm_proc *p);

#ifdef __cplusplus
}
#endif

#endif
