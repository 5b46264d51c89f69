// `lisa models pull` of BLIP checkpoints from a fake hub (tools/test_hub_server.py)
// on 127.0.0.1: the known names, and a repo with vocab.txt but no tokenizer.json
// (through the hub API, and from a plain static server), which then loads and
// captions like the fixture it was copied from (tests/setup/blip_models.sh).
#include "testutil.h"
#include "base/err.h"
#include "caption/caption.h"
#include "model/hub.h"
#include "model/modeldir.h"

#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PYTHON "/usr/bin/python3"

static pid_t server_pid;
static char g_models[512], src[600];

static void copy_src(void)
{
    const char *files[] = {"config.json", "model.safetensors",     "preprocessor_config.json",
                           "vocab.txt",   "tokenizer_config.json", "special_tokens_map.json"};
    char a[1200], b[1200];
    snprintf(src, sizeof src, "%s", tu_tmp("blip-src"));
    mkdir(src, 0755);
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(a, sizeof a, "%s/blip-b/%s", g_models, files[i]);
        snprintf(b, sizeof b, "%s/%s", src, files[i]);
        tu_copy(a, b);
    }
}

static int start_server(void **state)
{
    (void)state;
    char root[600], portfile[600], logpath[600], m1[700], m2[700], buf[32] = "";
    int hub_port, cdn_port;
    if (tu_find_models("blip-b/model.safetensors", g_models, sizeof g_models, "tests/setup/blip_models.sh") < 0)
        return -1;
    unsetenv("HF_TOKEN");
    unsetenv("HF_TOKEN_PATH");
    unsetenv("XDG_CACHE_HOME");
    setenv("HF_HOME", tu_tmp("hf-home-none"), 1);
    copy_src();
    snprintf(root, sizeof root, "%s", tu_tmp("hub"));
    snprintf(portfile, sizeof portfile, "%s", tu_tmp("hub.port"));
    snprintf(logpath, sizeof logpath, "%s", tu_tmp("hub.log"));
    snprintf(m1, sizeof m1, "test/blip-vocab=%s", src);
    snprintf(m2, sizeof m2, "test/blip-static=%s", src);
    server_pid = fork();
    if (server_pid == 0) {
        execl(PYTHON, PYTHON, "tools/test_hub_server.py", "--root", root, "--port-file", portfile, "--log", logpath,
              "--model", m1, "--model", m2, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200 && !buf[0]; i++) {
        FILE *f = fopen(portfile, "r");
        if (f) {
            if (!fgets(buf, sizeof buf, f)) buf[0] = 0;
            fclose(f);
        }
        if (!buf[0]) usleep(50000);
    }
    if (!buf[0] || sscanf(buf, "%d %d", &hub_port, &cdn_port) != 2) return -1;
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", hub_port);
    setenv("LISA_HF_ENDPOINT", endpoint, 1);
    setenv("no_proxy", "127.0.0.1", 1);
    setenv("NO_PROXY", "127.0.0.1", 1);
    return 0;
}

static int stop_server(void **state)
{
    (void)state;
    if (server_pid > 0) kill(server_pid, SIGTERM), waitpid(server_pid, NULL, 0);
    return 0;
}

static void test_names(void **state)
{
    (void)state;
    char repo[HUB_NAME_MAX], local[HUB_NAME_MAX];
    assert_int_equal(hub_resolve_name("blip-image-captioning-base", repo, local), 0);
    assert_string_equal(repo, "Salesforce/blip-image-captioning-base");
    assert_int_equal(hub_resolve_name("blip-image-captioning-large", repo, local), 0);
    assert_string_equal(repo, "Salesforce/blip-image-captioning-large");
    assert_string_equal(local, "blip-image-captioning-large");
    assert_int_equal(modeldir_kind_of(local), MODELDIR_BLIP);
}

// The pulled dir is complete for BLIP and captions exactly like its source.
static void check_pulled(const char *repo, const char *label)
{
    char dest[700];
    snprintf(dest, sizeof dest, "%s", tu_tmp(label));
    hub_opts o = {.retries = 0, .stall_seconds = 5};
    hub_report r;
    if (hub_pull(repo, dest, &o, &r) < 0) fail_msg("pull %s: %s", repo, lisa_errmsg());
    assert_int_equal(modeldir_check(dest, MODELDIR_BLIP, NULL, NULL), 0);
    char p[800];
    snprintf(p, sizeof p, "%s/tokenizer.json", dest);
    assert_int_not_equal(access(p, F_OK), 0);
    cap_model *a, *b;
    assert_int_equal(cap_load(dest, 1, &a), 0);
    assert_int_equal(cap_load(src, 1, &b), 0);
    cap_opts opt;
    cap_opts_default(&opt);
    opt.num_beams = 2;
    img_t img;
    assert_int_equal(img_load("tests/data/clip/images/gray.jpg", NULL, &img, NULL), 0);
    char *t1, *t2;
    assert_int_equal(cap_caption(a, &img, "a picture of", &opt, NULL, 0, NULL, &t1), 0);
    assert_int_equal(cap_caption(b, &img, "a picture of", &opt, NULL, 0, NULL, &t2), 0);
    assert_string_equal(t1, t2);
    free(t1), free(t2);
    img_release(&img);
    cap_free(a), cap_free(b);
}

static void test_pull_vocab_txt(void **state)
{
    (void)state;
    check_pulled("test/blip-vocab", "dest-api");
    check_pulled("test/blip-static", "dest-static");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_pull_vocab_txt),
    };
    return cmocka_run_group_tests_name("pull_blip", tests, start_server, stop_server);
}
