// `lisa models pull` against a fake hub (tools/test_hub_server.py) on 127.0.0.1.
//
// The server writes its repos' files under its --root; every download is
// compared byte for byte with them, and the digests it advertises come from
// Python's hashlib, so nothing here is checked against the C code itself.
// The sharded repos serve build/models/tiny-a-sharded (tests/setup/clip_sharded.sh);
// once pulled, that model must give tiny-a's PyTorch goldens.
#include "testutil.h"
#include "base/err.h"
#include "base/sha256.h"
#include "clip/clip.h"
#include "model/checkpoint.h"
#include "model/hub.h"
#include "model/modeldir.h"
#include "tensor/tensor.h"

#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PYTHON "/usr/bin/python3"
#define COMMIT "0123456789abcdef0123456789abcdef01234567" // the server's fake commit
#define WEIGHTS_SIZE 300007
#define TOKEN "hf_TestToken0123456789abcdefXYZ" // what the fake hub wants for test/private

static pid_t server_pid;
static char endpoint[64], root[512], logpath[512], sharded_src[512];
static int hub_port, cdn_port;
static const char *lisa_bin; // build/lisa beside this test's build/tests/

/* ---- fixture: start and stop the server --------------------------------- */

static int start_server(void **state)
{
    (void)state;
    char portfile[512], buf[32] = "";
    snprintf(root, sizeof root, "%s", tu_tmp("hub"));
    snprintf(portfile, sizeof portfile, "%s", tu_tmp("hub.port"));
    snprintf(logpath, sizeof logpath, "%s", tu_tmp("hub.log"));
    char model_a[600], model_b[600];
    // No developer's real token may reach the fake hub: tests set their own.
    unsetenv("HF_TOKEN");
    unsetenv("HF_TOKEN_PATH");
    unsetenv("XDG_CACHE_HOME");
    setenv("HF_HOME", tu_tmp("hf-home-none"), 1);
    if (access(PYTHON, X_OK) != 0) return 0; // tests skip
    const char *build = getenv("LISA_BUILD") ? getenv("LISA_BUILD") : "build";
    snprintf(sharded_src, sizeof sharded_src, "%s/models/tiny-a-sharded", build);
    snprintf(model_a, sizeof model_a, "test/sharded=%s", sharded_src);
    snprintf(model_b, sizeof model_b, "test/sharded-static=%s", sharded_src);
    server_pid = fork();
    if (server_pid == 0) {
        execl(PYTHON, PYTHON, "tools/test_hub_server.py", "--root", root, "--port-file", portfile, "--log", logpath,
              "--token", TOKEN, "--model", model_a, "--model", model_b, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200 && !buf[0]; i++) { // up to 10 s
        FILE *f = fopen(portfile, "r");
        if (f) {
            if (!fgets(buf, sizeof buf, f)) buf[0] = 0;
            fclose(f);
        }
        if (!buf[0]) usleep(50000);
    }
    if (!buf[0] || sscanf(buf, "%d %d", &hub_port, &cdn_port) != 2) return -1;
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", hub_port);
    setenv("LISA_HF_ENDPOINT", endpoint, 1);
    setenv("no_proxy", "127.0.0.1", 1);
    setenv("NO_PROXY", "127.0.0.1", 1);
    return 0;
}

static int stop_server(void **state)
{
    (void)state;
    if (server_pid > 0) {
        kill(server_pid, SIGTERM);
        waitpid(server_pid, NULL, 0);
    }
    return 0;
}

/* ---- helpers ------------------------------------------------------------ */

static size_t log_mark; // log_count() reads the log from here on

static void log_set_mark(void)
{
    size_t n;
    free(tu_read(logpath, &n));
    log_mark = n;
}

// Lines of the server log since the mark that hold every one of the (up to 3) needles.
static int log_count(const char *a, const char *b, const char *c)
{
    size_t n;
    int count = 0;
    char *text = (char *)tu_read(logpath, &n);
    for (char *line = strtok(text + (log_mark < n ? log_mark : n), "\n"); line; line = strtok(NULL, "\n"))
        count += strstr(line, a) && (!b || strstr(line, b)) && (!c || strstr(line, c));
    free(text);
    return count;
}

static void need_server(void)
{
    if (!endpoint[0]) skip();
}

static const char *dest_for(const char *label)
{
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/models-%s", tu_tmpdir(), label);
    return buf;
}

static int exists(const char *dir, const char *name)
{
    char p[1024];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0;
}

static long long size_of(const char *dir, const char *name)
{
    char p[1024];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0 ? (long long)st.st_size : -1;
}

// dest/name holds the same bytes as the server's copy of repo/name.
static void assert_same(const char *dest, const char *repo, const char *name)
{
    char a[1024], b[1024];
    size_t na, nb;
    snprintf(a, sizeof a, "%s/%s", dest, name);
    snprintf(b, sizeof b, "%s/%s/%s", root, repo, name);
    uint8_t *x = tu_read(a, &na), *y = tu_read(b, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(x, y, na);
    free(x);
    free(y);
}

static int log_has(const char *needle)
{
    size_t n;
    char *text = (char *)tu_read(logpath, &n);
    int found = strstr(text, needle) != NULL;
    free(text);
    return found;
}

static int pull(const char *repo, const char *dest, int retries, hub_report *r)
{
    hub_opts o = {.retries = retries, .stall_seconds = 5};
    if (getenv("LISA_TEST_VERBOSE")) o.progress = stderr;
    return hub_pull(repo, dest, &o, r);
}

/* ---- sha256 and names --------------------------------------------------- */

static void test_sha256_vectors(void **state)
{
    (void)state;
    char hex[65];
    sha256_ctx *c = sha256_new();
    assert_non_null(c);
    assert_int_equal(sha256_final(c, hex), 0); // FIPS 180-2 test vectors
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_int_equal(sha256_reset(c), 0);
    assert_int_equal(sha256_update(c, "ab", 2), 0);
    assert_int_equal(sha256_update(c, "c", 1), 0);
    assert_int_equal(sha256_final(c, hex), 0);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    sha256_free(c);
    const char *msg = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    tu_write(tu_tmp("vec.txt"), msg, strlen(msg));
    uint64_t n;
    assert_int_equal(sha256_file(tu_tmp("vec.txt"), hex, &n), 0);
    assert_int_equal(n, strlen(msg));
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    assert_int_equal(sha256_file(tu_tmp("nope"), hex, &n), LISA_ENOTFOUND);
    assert_true(sha256_is_hex(hex));
    assert_false(sha256_is_hex("abc"));
    tu_write(tu_tmp("hello.txt"), "hello\n", 6); // `git hash-object` of "hello\n"
    assert_int_equal(sha256_git_blob_id(tu_tmp("hello.txt"), hex), 0);
    assert_string_equal(hex, "ce013625030ba8dba906f756967f9e9ca394464a");
    sha256_free(NULL);
}

static void test_resolve_name(void **state)
{
    (void)state;
    char repo[HUB_NAME_MAX], local[HUB_NAME_MAX];
    assert_int_equal(hub_resolve_name("clip-vit-base-patch32", repo, local), 0);
    assert_string_equal(repo, "openai/clip-vit-base-patch32");
    assert_string_equal(local, "clip-vit-base-patch32");
    assert_int_equal(hub_resolve_name("clip-vit-large-patch14", repo, local), 0);
    assert_string_equal(repo, "openai/clip-vit-large-patch14");
    // The catalog's short names (model/catalog.h) resolve too.
    assert_int_equal(hub_resolve_name("siglip2-base-patch16-224", repo, local), 0);
    assert_string_equal(repo, "google/siglip2-base-patch16-224");
    assert_string_equal(local, "siglip2-base-patch16-224");
    assert_int_equal(hub_resolve_name("clip-vit-base-patch32-laion2b", repo, local), 0);
    assert_string_equal(repo, "laion/CLIP-ViT-B-32-laion2B-s34B-b79K");
    assert_int_equal(hub_resolve_name("blip-image-captioning-base", repo, local), 0);
    assert_string_equal(repo, "Salesforce/blip-image-captioning-base");
    assert_int_equal(hub_resolve_name("laion/CLIP-ViT-B-32_x.v2", repo, local), 0);
    assert_string_equal(repo, "laion/CLIP-ViT-B-32_x.v2");
    assert_string_equal(local, "CLIP-ViT-B-32_x.v2");
    static const char *const bad[] = {"",      "..",     "../x",   "a/..",      "a/../b",
                                      "a/b/c", "/x",     "x/",     "a/.hidden", "a/-x",
                                      "a/b c", "a/b%2f", "a\\b/c", "a/b..c",    "clip-vit-base-patch99"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(hub_resolve_name(bad[i], repo, local), LISA_EINVAL);
    assert_int_equal(hub_resolve_name("nosuchmodel", repo, local), LISA_EINVAL);
    assert_non_null(strstr(lisa_errmsg(), "clip-vit-base-patch32"));
    assert_true(hub_valid_revision("main"));
    assert_true(hub_valid_revision(COMMIT));
    assert_false(hub_valid_revision("../main"));
    assert_false(hub_valid_revision("a/b"));
    hub_opts o = {.revision = "..", .retries = 0};
    assert_int_equal(hub_pull("test/good", dest_for("badrev"), &o, NULL), LISA_EINVAL);
    o = (hub_opts){.endpoint = "ftp://127.0.0.1", .retries = 0};
    assert_int_equal(hub_pull("test/good", dest_for("badrev"), &o, NULL), LISA_EINVAL);
}

/* ---- pulls -------------------------------------------------------------- */

static void test_pull_good_then_keep(void **state)
{
    (void)state;
    need_server();
    static const char *const files[] = {"config.json",           "preprocessor_config.json", "tokenizer.json",
                                        "tokenizer_config.json", "special_tokens_map.json",  "model.safetensors"};
    const char *dest = dest_for("good");
    hub_report r;
    assert_int_equal(pull("test/good", dest, 0, &r), 0);
    assert_int_equal(r.have_metadata, 1);
    assert_string_equal(r.commit, COMMIT);
    assert_int_equal(r.files_downloaded, 6);
    assert_int_equal(r.files_sha_checked, 1);  // the one LFS file
    assert_int_equal(r.files_blob_checked, 5); // the files kept in git
    assert_int_equal(r.resumed, 0);
    for (size_t i = 0; i < 6; i++) assert_same(dest, "test/good", files[i]);
    assert_false(exists(dest, ".partial"));                            // cleaned up
    assert_true(log_has("/test/good/resolve/" COMMIT "/config.json")); // pinned to the commit
    assert_int_equal(modeldir_check(dest, MODELDIR_CLIP, NULL, NULL), 0);
    // A second run keeps everything and re-verifies the weights.
    assert_int_equal(pull("test/good", dest, 0, &r), 0);
    assert_int_equal(r.files_kept, 6);
    assert_int_equal(r.files_downloaded, 0);
    assert_int_equal(r.bytes, 0);
    assert_int_equal(r.files_sha_checked, 1);
    assert_int_equal(r.files_blob_checked, 5);
}

// SigLIP 1 ships spiece.model and no tokenizer.json: the pull takes it instead.
static void test_pull_spiece(void **state)
{
    (void)state;
    need_server();
    const char *dest = dest_for("spiece");
    hub_report r;
    assert_int_equal(pull("test/spiece", dest, 0, &r), 0);
    assert_int_equal(r.files_downloaded, 6);
    assert_same(dest, "test/spiece", "spiece.model");
    assert_same(dest, "test/spiece", "model.safetensors");
    assert_false(exists(dest, "tokenizer.json"));
}

static void test_pull_interrupted_then_resumed(void **state)
{
    (void)state;
    need_server();
    const char *dest = dest_for("cut");
    char partdir[600], needle[64];
    hub_report r;
    snprintf(partdir, sizeof partdir, "%s/.partial", dest);
    assert_int_equal(pull("test/cut-a", dest, 0, &r), LISA_ENET);
    assert_non_null(strstr(lisa_errmsg(), "model.safetensors"));
    assert_non_null(strstr(lisa_errmsg(), "network failure"));
    assert_false(exists(dest, "model.safetensors"));
    long long part = size_of(partdir, "model.safetensors.part");
    assert_true(part > 0 && part < WEIGHTS_SIZE);
    assert_true(exists(dest, "config.json")); // earlier files are in place
    assert_int_equal(pull("test/cut-a", dest, 0, &r), 0);
    assert_int_equal(r.resumed, 1);
    assert_int_equal(r.bytes, WEIGHTS_SIZE - part); // only the rest came over the wire
    assert_int_equal(r.files_sha_checked, 1);
    snprintf(needle, sizeof needle, "range=bytes=%lld-", part);
    assert_true(log_has(needle));
    assert_same(dest, "test/cut-a", "model.safetensors");
    assert_false(exists(dest, ".partial"));
}

static void test_pull_retries_by_itself(void **state)
{
    (void)state;
    need_server();
    const char *dest = dest_for("retry");
    hub_report r;
    assert_int_equal(pull("test/cut-b", dest, 1, &r), 0);
    assert_int_equal(r.resumed, 1);
    assert_int_equal(r.files_downloaded, 6);
    assert_true(r.bytes < WEIGHTS_SIZE + 1000); // weights once, plus the small files
    assert_same(dest, "test/cut-b", "model.safetensors");
}

static void test_pull_stall_times_out_and_resumes(void **state)
{
    (void)state;
    need_server();
    hub_opts o = {.retries = 1, .stall_seconds = 1};
    hub_report r;
    const char *dest = dest_for("stall");
    time_t t0 = time(NULL);
    assert_int_equal(hub_pull("test/stall", dest, &o, &r), 0);
    assert_true(time(NULL) - t0 < 10); // not the server's 30 s stall
    assert_int_equal(r.resumed, 1);
    assert_same(dest, "test/stall", "model.safetensors");
}

static void test_pull_restarts_when_range_ignored(void **state)
{
    (void)state;
    need_server();
    const char *dest = dest_for("norange");
    hub_report r;
    assert_int_equal(pull("test/cut-norange", dest, 1, &r), 0);
    assert_int_equal(r.resumed, 0);                // the server answered 200: start over
    assert_true(r.bytes >= WEIGHTS_SIZE + 100000); // the cut 100000 bytes, then all of it
    assert_same(dest, "test/cut-norange", "model.safetensors");
}

static void test_pull_rejects_bad_sha(void **state)
{
    (void)state;
    need_server();
    const char *dest = dest_for("badsha");
    char partdir[600];
    snprintf(partdir, sizeof partdir, "%s/.partial", dest);
    assert_int_equal(pull("test/badsha", dest, 0, NULL), LISA_ECHECKSUM);
    assert_non_null(strstr(lisa_errmsg(), "model.safetensors: sha256 mismatch"));
    assert_false(exists(dest, "model.safetensors"));         // never moved into place
    assert_false(exists(partdir, "model.safetensors.part")); // nor kept for a resume
    assert_true(exists(dest, "config.json"));
    assert_int_equal(modeldir_check(dest, MODELDIR_CLIP, NULL, NULL), LISA_ENOTFOUND);
}

static void test_pull_rejects_bad_blob_id(void **state)
{
    (void)state;
    need_server();
    const char *dest = dest_for("badblob");
    assert_int_equal(pull("test/badblob", dest, 0, NULL), LISA_ECHECKSUM);
    assert_non_null(strstr(lisa_errmsg(), "config.json: git blob id mismatch"));
    assert_false(exists(dest, "config.json"));
}

static void test_pull_discards_corrupt_partial(void **state)
{
    (void)state;
    need_server();
    const char *dest = dest_for("corrupt");
    char partdir[600], part[700];
    hub_report r;
    snprintf(partdir, sizeof partdir, "%s/.partial", dest);
    snprintf(part, sizeof part, "%s/model.safetensors.part", partdir);
    assert_int_equal(mkdir(dest, 0755), 0);
    assert_int_equal(mkdir(partdir, 0755), 0);
    tu_write(part, "garbage garbage garbage", 23); // resumed with wrong leading bytes
    assert_int_equal(pull("test/good", dest, 0, &r), LISA_ECHECKSUM);
    assert_int_equal(r.resumed, 1);
    assert_false(exists(dest, "model.safetensors"));
    assert_false(exists(partdir, "model.safetensors.part"));
    assert_int_equal(pull("test/good", dest, 0, &r), 0); // the next run starts clean
    assert_same(dest, "test/good", "model.safetensors");
    // A part longer than the hub's size is dropped before any request.
    const char *dest2 = dest_for("toolong");
    snprintf(partdir, sizeof partdir, "%s/.partial", dest2);
    snprintf(part, sizeof part, "%s/model.safetensors.part", partdir);
    assert_int_equal(mkdir(dest2, 0755), 0);
    assert_int_equal(mkdir(partdir, 0755), 0);
    uint8_t *big = calloc(1, WEIGHTS_SIZE + 10);
    tu_write(part, big, WEIGHTS_SIZE + 10);
    free(big);
    assert_int_equal(pull("test/good", dest2, 0, &r), 0);
    assert_int_equal(r.resumed, 0);
    assert_same(dest2, "test/good", "model.safetensors");
}

// /dev/full in place of the part file: every write fails with ENOSPC.
static void test_pull_disk_full(void **state)
{
    (void)state;
    need_server();
    const char *dest = dest_for("full");
    char partdir[600], part[700];
    if (access("/dev/full", W_OK) != 0) skip();
    snprintf(partdir, sizeof partdir, "%s/.partial", dest);
    snprintf(part, sizeof part, "%s/model.safetensors.part", partdir);
    assert_int_equal(mkdir(dest, 0755), 0);
    assert_int_equal(mkdir(partdir, 0755), 0);
    assert_int_equal(symlink("/dev/full", part), 0);
    assert_int_equal(pull("test/good", dest, 2, NULL), LISA_EIO);
    assert_non_null(strstr(lisa_errmsg(), "disk full"));
    assert_non_null(strstr(lisa_errmsg(), "model.safetensors"));
    assert_false(exists(dest, "model.safetensors"));
}

static void test_pull_static_server(void **state)
{
    (void)state;
    need_server();
    const char *dest = dest_for("static");
    hub_report r;
    assert_int_equal(pull("test/static", dest, 0, &r), 0);
    assert_int_equal(r.have_metadata, 0);
    assert_int_equal(r.files_sha_checked, 0);
    assert_int_equal(r.files_blob_checked, 0);
    assert_int_equal(r.files_absent, 2); // tokenizer_config.json, special_tokens_map.json: 404
    assert_false(exists(dest, "tokenizer.json"));
    assert_same(dest, "test/static", "vocab.json");
    assert_same(dest, "test/static", "merges.txt");
    assert_same(dest, "test/static", "model.safetensors");
    assert_true(log_has("/test/static/resolve/main/tokenizer.json"));
    assert_int_equal(modeldir_check(dest, MODELDIR_CLIP, NULL, NULL), 0);
    assert_int_equal(pull("test/static", dest, 0, &r), 0); // kept, unverified
    assert_int_equal(r.files_kept, 5);
}

static void test_pull_required_file_404(void **state)
{
    (void)state;
    need_server();
    const char *dest = dest_for("noweights");
    const char *missing;
    assert_int_equal(pull("test/noweights", dest, 2, NULL), LISA_ENOTFOUND);
    assert_non_null(strstr(lisa_errmsg(), "model.safetensors: HTTP 404"));
    assert_false(exists(dest, "model.safetensors"));
    assert_int_equal(modeldir_check(dest, MODELDIR_CLIP, NULL, &missing), LISA_ENOTFOUND);
    assert_string_equal(missing, "model.safetensors");
    assert_non_null(strstr(lisa_errmsg(), "lisa models pull clip-vit-base-patch32-laion2b"));
    // An unknown repo: the API answers 404, then config.json's 404 names the file.
    assert_int_equal(pull("test/nosuchrepo", dest_for("nosuch"), 0, NULL), LISA_ENOTFOUND);
    assert_non_null(strstr(lisa_errmsg(), "config.json: HTTP 404"));
    assert_false(exists(dest_for("nosuch"), ".")); // no empty directory left behind
}

static void test_pull_unreachable(void **state)
{
    (void)state;
    hub_opts o = {.endpoint = "http://127.0.0.1:1", .retries = 0};
    assert_int_equal(hub_pull("test/good", dest_for("unreachable"), &o, NULL), LISA_ENET);
    assert_non_null(strstr(lisa_errmsg(), "cannot reach http://127.0.0.1:1"));
}

/* ---- access tokens ------------------------------------------------------- */

static char *read_text(const char *path)
{
    size_t n;
    return (char *)tu_read(path, &n);
}

// Pulls repo with progress written to a file; the file's text in *progress.
static int pull_logged(const char *repo, const char *dest, hub_report *r, char **progress)
{
    const char *path = tu_tmp("progress.txt");
    char keep[1024];
    snprintf(keep, sizeof keep, "%s", path);
    FILE *f = fopen(keep, "w");
    assert_non_null(f);
    hub_opts o = {.retries = 0, .stall_seconds = 5, .progress = f};
    int rc = hub_pull(repo, dest, &o, r);
    fclose(f);
    *progress = read_text(keep);
    return rc;
}

static void test_pull_private_needs_token(void **state)
{
    (void)state;
    need_server();
    hub_report r;
    char *prog;
    // No token anywhere: 401, and the message says so and names HF_TOKEN.
    log_set_mark();
    assert_int_equal(pull_logged("test/private", dest_for("private-none"), &r, &prog), LISA_ENET);
    assert_int_equal(r.token_sent, 0);
    assert_non_null(strstr(lisa_errmsg(), "config.json: HTTP 401"));
    assert_non_null(strstr(lisa_errmsg(), "no token was sent"));
    assert_non_null(strstr(lisa_errmsg(), "set HF_TOKEN"));
    assert_true(log_count("/api/models/test/private/", "auth=no", NULL) >= 1);
    free(prog);
    // A wrong token: 401 again, the message says one was sent, and never shows it.
    setenv("HF_TOKEN", "hf_WrongToken999", 1);
    assert_int_equal(pull_logged("test/private", dest_for("private-wrong"), &r, &prog), LISA_ENET);
    assert_int_equal(r.token_sent, 1);
    assert_non_null(strstr(lisa_errmsg(), "a token from $HF_TOKEN was sent"));
    assert_null(strstr(lisa_errmsg(), "hf_WrongToken999"));
    assert_null(strstr(prog, "hf_WrongToken999"));
    free(prog);
    // The right one (with whitespace around it, trimmed): everything arrives.
    setenv("HF_TOKEN", "  " TOKEN "\n", 1);
    const char *dest = dest_for("private");
    int rc = pull_logged("test/private", dest, &r, &prog);
    unsetenv("HF_TOKEN");
    if (rc < 0) fail_msg("%s", lisa_errmsg());
    assert_int_equal(r.token_sent, 1);
    assert_int_equal(r.have_metadata, 1);
    assert_int_equal(r.files_sha_checked, 1);
    assert_same(dest, "test/private", "config.json");
    assert_same(dest, "test/private", "model.safetensors");
    assert_non_null(strstr(prog, "using the Hugging Face token from $HF_TOKEN"));
    assert_null(strstr(prog, TOKEN));
    free(prog);
}

// The hub gets the token; the LFS redirect to another origin (the same
// 127.0.0.1, another port) does not. curl 7.88 (Debian 12) drops bearer auth
// on a redirect to another host, port or scheme (since 7.83, CVE-2022-27776)
// unless CURLOPT_UNRESTRICTED_AUTH is set, which hub.c sets to 0 explicitly.
static void test_pull_token_not_forwarded(void **state)
{
    (void)state;
    need_server();
    char hub[32], cdn[32];
    snprintf(hub, sizeof hub, "port=%d", hub_port);
    snprintf(cdn, sizeof cdn, "port=%d", cdn_port);
    setenv("HF_TOKEN", TOKEN, 1);
    log_set_mark();
    int rc = pull("test/private", dest_for("private-redirect"), 0, NULL);
    unsetenv("HF_TOKEN");
    if (rc < 0) fail_msg("%s", lisa_errmsg());
    assert_true(log_count("/test/private/resolve/", "auth=yes", hub) >= 2);        // the hub saw the token
    assert_int_equal(log_count("/test/private/resolve/", "auth=no", hub), 0);      // on every request
    assert_true(log_count("/cdn/test/private/model.safetensors", cdn, NULL) >= 1); // the redirect was followed
    assert_int_equal(log_count("/cdn/test/private/", "auth=yes", NULL), 0);        // without the token
    assert_int_equal(log_count("/cdn/test/private/", hub, NULL), 0);
}

static void test_pull_token_file(void **state)
{
    (void)state;
    need_server();
    char dir[600], file[700], home[600], old_home[1024];
    hub_report r;
    // $HF_HOME/token, padded with whitespace as editors leave it.
    snprintf(dir, sizeof dir, "%s", tu_tmp("hf-home"));
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(file, sizeof file, "%s/token", dir);
    tu_write(file, "\n  " TOKEN "  \n", strlen(TOKEN) + 6);
    setenv("HF_HOME", dir, 1);
    int rc = pull("test/private", dest_for("private-file"), 0, &r);
    if (rc < 0) fail_msg("%s", lisa_errmsg());
    assert_int_equal(r.token_sent, 1);
    assert_same(dest_for("private-file"), "test/private", "model.safetensors");
    // A token with a line break inside is refused, and the message shows none of it.
    tu_write(file, "hf_abc\r\nX-Evil: 1\n", 19);
    assert_int_equal(pull("test/private", dest_for("private-crlf"), 0, NULL), LISA_EINVAL);
    assert_non_null(strstr(lisa_errmsg(), file));
    assert_null(strstr(lisa_errmsg(), "hf_abc"));
    assert_null(strstr(lisa_errmsg(), "Evil"));
    // No HF_HOME: ~/.cache/huggingface/token.
    unsetenv("HF_HOME");
    snprintf(old_home, sizeof old_home, "%s", getenv("HOME") ? getenv("HOME") : "");
    snprintf(home, sizeof home, "%s", tu_tmp("home"));
    snprintf(file, sizeof file, "%s/.cache", home);
    assert_int_equal(mkdir(home, 0700), 0);
    assert_int_equal(mkdir(file, 0700), 0);
    snprintf(file, sizeof file, "%s/.cache/huggingface", home);
    assert_int_equal(mkdir(file, 0700), 0);
    snprintf(file, sizeof file, "%s/.cache/huggingface/token", home);
    tu_write(file, TOKEN, strlen(TOKEN));
    setenv("HOME", home, 1);
    rc = pull("test/private", dest_for("private-home"), 0, &r);
    setenv("HOME", old_home, 1);
    setenv("HF_HOME", tu_tmp("hf-home-none"), 1);
    if (rc < 0) fail_msg("%s", lisa_errmsg());
    assert_int_equal(r.token_sent, 1);
    // $HF_TOKEN wins over the file.
    snprintf(dir, sizeof dir, "%s", tu_tmp("hf-home"));
    snprintf(file, sizeof file, "%s/token", dir);
    tu_write(file, "hf_NotTheToken", 14);
    setenv("HF_HOME", dir, 1);
    setenv("HF_TOKEN", TOKEN, 1);
    rc = pull("test/private", dest_for("private-env-wins"), 0, &r);
    unsetenv("HF_TOKEN");
    setenv("HF_HOME", tu_tmp("hf-home-none"), 1);
    if (rc < 0) fail_msg("%s", lisa_errmsg());
}

/* ---- sharded checkpoints -------------------------------------------------- */

static const char *const SHARDS[] = {"model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                                     "model-00003-of-00003.safetensors"};

static void need_sharded(void)
{
    need_server();
    struct stat st;
    char p[700];
    snprintf(p, sizeof p, "%s/" CKPT_INDEX, sharded_src);
    if (stat(p, &st) != 0) fail_msg("no %s: run tests/setup/clip_models.sh and clip_sharded.sh", p);
}

// The pulled model loads and gives tiny-a's golden text and image embeddings.
static void check_loads_like_tiny_a(const char *dir)
{
    size_t n;
    uint8_t *b = tu_read(tu_data("clip/tiny-a.json"), &n);
    cJSON *g = cJSON_ParseWithLength((const char *)b, n);
    free(b);
    assert_non_null(g);
    clip_model *m;
    if (clip_load(dir, 1, &m) < 0) fail_msg("%s: %s", dir, lisa_errmsg());
    int dim = clip_dim(m), k = 0;
    float out[256];
    assert_true(dim <= 256);
    const cJSON *t = cJSON_GetObjectItem(g, "texts")->child, *e;
    int32_t ids[128];
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(t, "ids")) ids[k++] = e->valueint;
    assert_int_equal(clip_embed_text(m, ids, k, out), 0);
    float want[256];
    k = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(t, "embed")) want[k++] = (float)e->valuedouble;
    assert_int_equal(k, dim);
    assert_true(t_cosine(out, want, (size_t)dim) >= 0.99999 && t_max_abs_diff(out, want, (size_t)dim) <= 1e-4);
    const cJSON *im = cJSON_GetObjectItem(g, "images")->child;
    char rel[256];
    snprintf(rel, sizeof rel, "clip/%s", cJSON_GetObjectItem(im, "pixels")->valuestring);
    float *px = (float *)tu_read(tu_data(rel), &n);
    assert_int_equal(clip_embed_images(m, px, 1, out), 0);
    k = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(im, "embed")) want[k++] = (float)e->valuedouble;
    assert_true(t_cosine(out, want, (size_t)dim) >= 0.99999 && t_max_abs_diff(out, want, (size_t)dim) <= 1e-4);
    free(px);
    clip_free(m);
    cJSON_Delete(g);
}

static void test_pull_sharded(void **state)
{
    (void)state;
    need_sharded();
    const char *dest = dest_for("sharded");
    hub_report r;
    if (pull("test/sharded", dest, 0, &r) < 0) fail_msg("%s", lisa_errmsg());
    assert_int_equal(r.have_metadata, 1);
    assert_int_equal(r.shards, 3);
    assert_int_equal(r.files_sha_checked, 3);    // the shards are LFS files
    assert_int_equal(r.files_downloaded, 4 + 3); // config, preproc, tokenizer, index + 3 shards
    assert_false(exists(dest, "model.safetensors"));
    assert_same(dest, "test/sharded", CKPT_INDEX);
    for (int i = 0; i < 3; i++) assert_same(dest, "test/sharded", SHARDS[i]);
    assert_true(log_has("/test/sharded/resolve/" COMMIT "/model-00002-of-00003.safetensors"));
    assert_false(log_has("/test/sharded/resolve/" COMMIT "/model.safetensors ")); // the API said: no single file
    assert_int_equal(modeldir_check(dest, MODELDIR_CLIP, NULL, NULL), 0);
    check_loads_like_tiny_a(dest);
    // Again: all kept and re-verified. Then lose a shard: only it comes back.
    assert_int_equal(pull("test/sharded", dest, 0, &r), 0);
    assert_int_equal(r.files_kept, 7);
    assert_int_equal(r.bytes, 0);
    char p[700];
    const char *missing;
    snprintf(p, sizeof p, "%s/%s", dest, SHARDS[1]);
    assert_int_equal(unlink(p), 0);
    assert_int_equal(modeldir_check(dest, MODELDIR_CLIP, NULL, &missing), LISA_ENOTFOUND);
    assert_string_equal(missing, "shards named in " CKPT_INDEX);
    assert_int_equal(pull("test/sharded", dest, 0, &r), 0);
    assert_int_equal(r.files_downloaded, 1);
    assert_int_equal(r.files_kept, 6);
    assert_same(dest, "test/sharded", SHARDS[1]);
    check_loads_like_tiny_a(dest);
}

// No API: model.safetensors is 404, the index is found, and the shards follow.
static void test_pull_sharded_static(void **state)
{
    (void)state;
    need_sharded();
    const char *dest = dest_for("sharded-static");
    hub_report r;
    if (pull("test/sharded-static", dest, 0, &r) < 0) fail_msg("%s", lisa_errmsg());
    assert_int_equal(r.have_metadata, 0);
    assert_int_equal(r.shards, 3);
    assert_true(log_has("/test/sharded-static/resolve/main/model.safetensors range"));
    assert_true(log_has("/test/sharded-static/resolve/main/" CKPT_INDEX " range"));
    for (int i = 0; i < 3; i++) assert_same(dest, "test/sharded-static", SHARDS[i]);
    check_loads_like_tiny_a(dest);
}

// An index whose shard climbs out of the directory: refused before any path
// or URL is made of it, and the index is not left installed.
static void test_pull_hostile_index(void **state)
{
    (void)state;
    need_server();
    const char *dest = dest_for("badindex");
    assert_int_equal(pull("test/badindex", dest, 0, NULL), LISA_EFORMAT);
    assert_non_null(strstr(lisa_errmsg(), "weight_map: a.weight: shard name '../escape.safetensors'"));
    assert_false(exists(dest, CKPT_INDEX));
    assert_false(exists(tu_tmpdir(), "escape.safetensors"));
    assert_false(log_has("escape.safetensors range"));
}

// The command line: exit codes, default destination under --data, `models path`.
// The catalog: every short name with its repo and figures; an installed one marked.
static void test_cli_available(void **state)
{
    (void)state;
    char cmd[2048], dir[600], p[700];
    if (!lisa_bin || access(lisa_bin, X_OK) != 0) skip();
    snprintf(dir, sizeof dir, "%s/avail-data/models/siglip2-base-patch16-224", tu_tmpdir());
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    assert_int_equal(system(cmd), 0);
    static const char *const files[] = {"config.json", "model.safetensors", "preprocessor_config.json",
                                        "tokenizer.json"};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        tu_write(p, i ? "{}" : "{\"model_type\":\"siglip\"}", i ? 2 : 23);
    }
    snprintf(cmd, sizeof cmd, "%s models list --available --data %s/avail-data >%s/avail.out 2>&1", lisa_bin,
             tu_tmpdir(), tu_tmpdir());
    assert_int_equal(system(cmd), 0);
    size_t n;
    char *out = (char *)tu_read(tu_tmp("avail.out"), &n);
    static const char *const want[] = {"openai/clip-vit-base-patch32",
                                       "laion/CLIP-ViT-B-32-laion2B-s34B-b79K",
                                       "openai/clip-vit-base-patch16",
                                       "openai/clip-vit-large-patch14",
                                       "google/siglip-base-patch16-224",
                                       "google/siglip2-large-patch16-256",
                                       "Crossmodal-3600"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(out, want[i])) fail_msg("no %s in:\n%s", want[i], out);
    const char *line = strstr(out, "siglip2-base-patch16-224 ");
    assert_non_null(line);
    const char *eol = strchr(line, '\n');
    char row[512];
    snprintf(row, sizeof row, "%.*s", (int)(eol - line), line);
    assert_non_null(strstr(row, "multilingual"));
    assert_non_null(strstr(row, "75.2"));
    assert_non_null(strstr(row, " yes "));
    line = strstr(out, "clip-vit-base-patch32 ");
    assert_non_null(line);
    assert_null(memmem(line, (size_t)(strchr(line, '\n') - line), " yes ", 5));
    free(out);
}

static void test_cli(void **state)
{
    (void)state;
    need_server();
    char cmd[2048], data[512], out[600];
    if (!lisa_bin || access(lisa_bin, X_OK) != 0) skip();
    snprintf(data, sizeof data, "%s/cli-data", tu_tmpdir());
    snprintf(cmd, sizeof cmd, "%s models pull test/good --data %s >/dev/null 2>%s/cli.err", lisa_bin, data,
             tu_tmpdir());
    assert_int_equal(system(cmd), 0);
    snprintf(out, sizeof out, "%s/models/good", data);
    assert_same(out, "test/good", "model.safetensors");
    snprintf(cmd, sizeof cmd, "%s models path test/good --data %s >%s/cli.out 2>&1", lisa_bin, data, tu_tmpdir());
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s models pull test/noweights --data %s >/dev/null 2>%s/cli.err", lisa_bin, data,
             tu_tmpdir());
    assert_int_not_equal(system(cmd), 0);
    size_t n;
    char *err = (char *)tu_read(tu_tmp("cli.err"), &n);
    assert_non_null(strstr(err, "model.safetensors: HTTP 404"));
    free(err);
    snprintf(cmd, sizeof cmd, "%s models pull ../../etc --data %s >/dev/null 2>&1", lisa_bin, data);
    assert_int_not_equal(system(cmd), 0);
}

int main(int argc, char **argv)
{
    // The goldens are fp32 results; the default precision may be bf16 (clip.h).
    setenv("LISA_PRECISION", "fp32", 1);
    static char bin[1024];
    (void)argc;
    const char *slash = strrchr(argv[0], '/');
    if (slash && snprintf(bin, sizeof bin, "%.*s/../lisa", (int)(slash - argv[0]), argv[0]) > 0) lisa_bin = bin;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_resolve_name),
        cmocka_unit_test(test_pull_good_then_keep),
        cmocka_unit_test(test_pull_spiece),
        cmocka_unit_test(test_pull_interrupted_then_resumed),
        cmocka_unit_test(test_pull_retries_by_itself),
        cmocka_unit_test(test_pull_stall_times_out_and_resumes),
        cmocka_unit_test(test_pull_restarts_when_range_ignored),
        cmocka_unit_test(test_pull_rejects_bad_sha),
        cmocka_unit_test(test_pull_rejects_bad_blob_id),
        cmocka_unit_test(test_pull_discards_corrupt_partial),
        cmocka_unit_test(test_pull_disk_full),
        cmocka_unit_test(test_pull_static_server),
        cmocka_unit_test(test_pull_required_file_404),
        cmocka_unit_test(test_pull_unreachable),
        cmocka_unit_test(test_pull_private_needs_token),
        cmocka_unit_test(test_pull_token_not_forwarded),
        cmocka_unit_test(test_pull_token_file),
        cmocka_unit_test(test_pull_sharded),
        cmocka_unit_test(test_pull_sharded_static),
        cmocka_unit_test(test_pull_hostile_index),
        cmocka_unit_test(test_cli_available),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests_name("pull", tests, start_server, stop_server);
}
