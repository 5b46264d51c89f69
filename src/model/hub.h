// Downloading a Hugging Face checkpoint: `lisa models pull NAME`.
//
// hub_pull() fetches the files LISA reads (config.json, the weights,
// tokenizer.json or vocab.json + merges.txt, preprocessor_config.json, and the
// optional tokenizer_config.json / special_tokens_map.json) from
//   {endpoint}/{repo}/resolve/{revision}/{file}
// into a model directory. Each file goes to DEST/.partial/FILE.part first; a
// later run resumes it with `Range: bytes=N-` (appending on 206, starting over
// on 200). A file is renamed into DEST/FILE only after its size and SHA-256
// match what the hub says, so DEST never holds a half or corrupt file.
//
// Sizes and digests come from the hub API
//   GET {endpoint}/api/models/{repo}/revision/{revision}?blobs=true
// (siblings[].size, siblings[].lfs.sha256, and the commit sha, which then pins
// every download to one snapshot), else from the X-Linked-Size / X-Linked-Etag /
// ETag headers of the resolve responses. Small files kept in git rather than
// LFS have no SHA-256 on the hub; their git blob id (API blobId, or a 40-hex
// ETag) is checked instead. A plain static server gives neither:
// the pull still works and the report says that nothing was verified.
// Files already in DEST that verify are kept, so re-running is cheap.
//
// The weights are model.safetensors or, for checkpoints sharded by HF, the
// file model.safetensors.index.json and each distinct shard its weight_map
// names (see model/checkpoint.h). The API's file list says which; without it,
// model.safetensors is tried first and a 404 falls back to the index. Shard
// names are validated (ckpt_valid_shard_name(): a plain *.safetensors name)
// before they become paths or URLs, and each shard gets the same resume and
// checks as any file. The index is installed before its shards.
//
// Gated and private repos need an access token: $HF_TOKEN, else the file
// huggingface_hub writes ($HF_TOKEN_PATH, else $HF_HOME/token, else
// $XDG_CACHE_HOME/huggingface/token, else ~/.cache/huggingface/token), trimmed.
// It goes out as curl's bearer auth, which curl sends only to the endpoint's
// host, port and scheme and drops on a redirect elsewhere (LFS files redirect
// to a CDN). The token never appears in messages or progress output; 401/403
// errors say whether one was sent and where it came from.
#ifndef LISA_MODEL_HUB_H
#define LISA_MODEL_HUB_H

#include <stdint.h>
#include <stdio.h>

#define HUB_NAME_MAX 200 // repo ids, local names (with NUL); parts are capped at 96
#define HUB_DEFAULT_ENDPOINT "https://huggingface.co"
#define HUB_DEFAULT_REVISION "main"

typedef struct {
    const char *endpoint; // NULL: $LISA_HF_ENDPOINT, else HUB_DEFAULT_ENDPOINT
    const char *revision; // NULL: HUB_DEFAULT_REVISION
    FILE *progress;       // NULL: silent; a TTY gets a live bar, anything else plain lines
    int retries;          // resumed re-tries per file after a network failure; < 0: 3
    long stall_seconds;   // abort a transfer that stays under 1 byte/s this long; 0: 60
} hub_opts;

typedef struct {
    int have_metadata;      // 1 when the hub API gave the file list, sizes and digests
    char commit[41];        // the revision's commit sha from the API, "" if unknown
    int files_downloaded;   // transferred (at least partly) in this run
    int files_kept;         // already complete in DEST and kept
    int files_absent;       // optional files the repo does not have
    int files_sha_checked;  // files whose SHA-256 was compared with the hub's (LFS files)
    int files_blob_checked; // files whose git blob id (SHA-1) was compared (files kept in git)
    int resumed;            // transfers that continued a partial file (HTTP 206)
    uint64_t bytes;         // body bytes received in this run
    int shards;             // shard files of a sharded checkpoint, 0 for one model.safetensors
    int token_sent;         // 1 when an access token was used
} hub_report;

// Maps a user-facing model name to a hub repo id and the local directory name.
// NAME is a known short name (clip-vit-base-patch32, clip-vit-base-patch16,
// clip-vit-large-patch14, blip-image-captioning-base, -large) or a repo id owner/name
// taken as is, whose local name is its name part. Each part must be 1..96 of
// [A-Za-z0-9._-], not start with '.' or '-', and hold no "..": nothing that
// could leave the models directory. repo and local are caller buffers.
int hub_resolve_name(const char *name, char repo[HUB_NAME_MAX], char local[HUB_NAME_MAX]);

// 1 when rev is a safe revision (branch, tag or commit): 1..96 of [A-Za-z0-9._-].
int hub_valid_revision(const char *rev);

// The known short names, NULL-terminated (static; for help and listings).
const char *const *hub_known_names(void);

// Downloads repo (an owner/name id, already resolved) into the directory dest,
// which is created if needed. opts may be NULL for the defaults; rep (may be
// NULL) is filled even on failure. Returns 0 or a LISA_E* code with the detail
// (which file, HTTP status or network error, expected vs got digest) in
// lisa_errmsg(). Partial downloads are kept for the next run, except one that
// failed its checksum, which is deleted.
int hub_pull(const char *repo, const char *dest, const hub_opts *opts, hub_report *rep);

#endif
