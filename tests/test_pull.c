// `lisa models pull` against a fake hub (tools/test_hub_server.py) on 127.0.0.1.
//
// The server writes its repos' files under its --root; every download is
// compared byte for byte with them, and the digests it advertises come from
// Python's hashlib, so nothing here is checked against the C code itself.
#include "testutil.h"
#include "base/err.h"
#include "base/sha256.h"
#include "model/hub.h"
#include "model/modeldir.h"

#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PYTHON "/usr/bin/python3"
#define COMMIT "0123456789abcdef0123456789abcdef01234567" // the server's fake commit
#define WEIGHTS_SIZE 300007

static pid_t server_pid;
static char endpoint[64], root[512], logpath[512];
static const char *lisa_bin; // build/lisa beside this test's build/tests/

/* ---- fixture: start and stop the server --------------------------------- */

static int start_server(void **state)
{
    (void)state;
    char portfile[512], buf[16] = "";
    snprintf(root, sizeof root, "%s", tu_tmp("hub"));
    snprintf(portfile, sizeof portfile, "%s", tu_tmp("hub.port"));
    snprintf(logpath, sizeof logpath, "%s", tu_tmp("hub.log"));
    if (access(PYTHON, X_OK) != 0) return 0; // tests skip
    server_pid = fork();
    if (server_pid == 0) {
        execl(PYTHON, PYTHON, "tools/test_hub_server.py", "--root", root, "--port-file", portfile, "--log", logpath,
              (char *)NULL);
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
    if (!buf[0]) return -1;
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", atoi(buf));
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
    assert_non_null(strstr(lisa_errmsg(), "lisa models pull clip-vit-base-patch32"));
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

// The command line: exit codes, default destination under --data, `models path`.
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
    static char bin[1024];
    (void)argc;
    const char *slash = strrchr(argv[0], '/');
    if (slash && snprintf(bin, sizeof bin, "%.*s/../lisa", (int)(slash - argv[0]), argv[0]) > 0) lisa_bin = bin;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_resolve_name),
        cmocka_unit_test(test_pull_good_then_keep),
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
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests_name("pull", tests, start_server, stop_server);
}
