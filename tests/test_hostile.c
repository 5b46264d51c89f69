// The hostile probe of issue 17, replayed against a real `lisa serve` (the
// binary, $LISA_BUILD/lisa or build/lisa) on 127.0.0.1 with raw sockets:
// DNS rebinding, cross-site simple POSTs, a symlink swapped in after
// indexing, truncated and oversized uploads, a NUL in the request line,
// decoder bombs, an Exiv2-crashing WebP, stale thumbnail temp files, and
// model dirs with a directory for config.json or NaN weights. After all of
// it the server is healthy and stops cleanly on SIGTERM.
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char g_bin[512], g_data[600], g_lib[600];
static pid_t g_pid;
static int g_port;

// ---------------------------------------------------------------- the server

// A port free on 127.0.0.1 just now (settings refuse --port 0).
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    socklen_t n = sizeof a;
    a.sin_family = AF_INET, a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &n), 0);
    close(fd);
    return ntohs(a.sin_port);
}

// Starts `lisa serve ARGS...` on a free port and waits for its banner.
// Returns the pid, or -1 with its output in out when it exited instead.
static pid_t serve(const char *const *args, int nargs, int *port, char *out, size_t cap)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    char port_s[16];
    snprintf(port_s, sizeof port_s, "%d", free_port());
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2), dup2(fds[1], 1);
        close(fds[0]);
        const char *argv[32] = {g_bin, "serve", "--port", port_s, "--threads", "4"};
        int k = 6;
        for (int i = 0; i < nargs && k < 31; i++) argv[k++] = args[i];
        argv[k] = NULL;
        execv(g_bin, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    size_t n = 0;
    out[0] = 0;
    *port = 0;
    for (ssize_t k; n + 1 < cap && (k = read(fds[0], out + n, cap - 1 - n)) > 0;) {
        n += (size_t)k, out[n] = 0;
        const char *p = strstr(out, "serving http://127.0.0.1:");
        if (p && strchr(p, '/') && sscanf(p, "serving http://127.0.0.1:%d/", port) == 1) break;
    }
    if (*port > 0) {
        if (fork() == 0) { // drain the server's log so it never blocks on a full pipe
            int null = open("/dev/null", O_WRONLY);
            dup2(null, 1), dup2(null, 2);
            char buf[4096];
            while (read(fds[0], buf, sizeof buf) > 0) {}
            _exit(0);
        }
        close(fds[0]);
        return pid;
    }
    close(fds[0]);
    int st;
    waitpid(pid, &st, 0);
    return -1;
}

static int stop(pid_t pid)
{
    kill(pid, SIGTERM);
    int st = 0;
    for (int i = 0; i < 200; i++) {
        if (waitpid(pid, &st, WNOHANG) == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        usleep(50000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
}

// Sends n bytes to the server and reads one answer into out. Returns its
// status (0: none, the connection was closed).
static int raw(const void *req, size_t n, char *out, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET, a.sin_port = htons((uint16_t)g_port), a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) fail_msg("connect: %s", strerror(errno));
    struct timeval tv = {20, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    for (size_t off = 0; off < n;) {
        ssize_t w = send(fd, (const char *)req + off, n - off, MSG_NOSIGNAL);
        if (w <= 0) break;
        off += (size_t)w;
    }
    size_t got = 0;
    out[0] = 0;
    for (ssize_t k; got + 1 < cap && (k = recv(fd, out + got, cap - 1 - got, 0)) > 0;) {
        got += (size_t)k, out[got] = 0;
        char *end = strstr(out, "\r\n\r\n"), *cl = strcasestr(out, "Content-Length:");
        if (end && cl && (size_t)(end + 4 - out) + strtoul(cl + 15, NULL, 10) <= got) break;
    }
    close(fd);
    int status = 0;
    return sscanf(out, "HTTP/1.%*d %d", &status) == 1 ? status : 0;
}

static int raw_str(const char *req, char *out, size_t cap)
{
    return raw(req, strlen(req), out, cap);
}

// GET path with the default Host; the status.
static int get(const char *path, char *out, size_t cap)
{
    char req[2048];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n", path, g_port);
    return raw_str(req, out, cap);
}

// A multipart upload of file as name, its last trim bytes cut off, with a
// Content-Length that matches what is sent.
static int upload(const uint8_t *file, size_t nfile, const char *name, size_t trim, char *out, size_t cap)
{
    char head[512], hdr[512];
    int nb = snprintf(head, sizeof head,
                      "--XyZ\r\nContent-Disposition: form-data; name=\"files\"; filename=\"%s\"\r\n\r\n", name);
    static const char tail[] = "\r\n--XyZ--\r\n";
    size_t body = (size_t)nb + nfile + sizeof tail - 1 - trim;
    int nh = snprintf(hdr, sizeof hdr,
                      "POST /api/upload HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: multipart/form-data; "
                      "boundary=XyZ\r\nContent-Length: %zu\r\n\r\n",
                      g_port, body);
    char *r = malloc((size_t)nh + (size_t)nb + nfile + sizeof tail);
    memcpy(r, hdr, (size_t)nh), memcpy(r + nh, head, (size_t)nb), memcpy(r + nh + nb, file, nfile);
    memcpy(r + nh + nb + nfile, tail, sizeof tail - 1);
    int st = raw(r, (size_t)nh + body, out, cap);
    free(r);
    return st;
}

static int count_dir(const char *dir)
{
    char cmd[800];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (!p || fscanf(p, "%d", &n) != 1) n = -1;
    if (p) pclose(p);
    return n;
}

static void wait_build(void)
{
    char out[8192];
    for (int i = 0; i < 600; i++) {
        assert_int_equal(get("/api/build", out, sizeof out), 200);
        if (!strstr(out, "\"state\":\"running\"")) return;
        usleep(100000);
    }
    fail_msg("the build did not finish");
}

// ---------------------------------------------------------------- set-up

static int setup(void **state)
{
    (void)state;
    const char *b = getenv("LISA_BUILD");
    snprintf(g_bin, sizeof g_bin, "%s/lisa", b && *b ? b : "build");
    if (access(g_bin, X_OK) != 0) return fprintf(stderr, "%s missing (make)\n", g_bin), -1;
    snprintf(g_data, sizeof g_data, "%s", tu_tmp("data"));
    snprintf(g_lib, sizeof g_lib, "%s", tu_tmp("lib"));
    mkdir(g_data, 0755), mkdir(g_lib, 0755);
    char p[900];
    snprintf(p, sizeof p, "%s/thumbnails", g_data);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/thumbnails/%064d.jpg.9.tmp", g_data, 7); // a kill -9 mid-write, 2 minutes ago
    tu_write(p, "", 0);
    struct timespec old[2] = {{time(NULL) - 120, 0}, {time(NULL) - 120, 0}};
    utimensat(AT_FDCWD, p, old, 0);
    const char *imgs[] = {"land.jpg", "gray.png", "lossy.webp"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", g_lib, i == 0 ? "swap.jpg" : imgs[i]);
        tu_copy(tu_data(i == 0 ? "images/land.jpg" : (i == 1 ? "images/gray.png" : "images/lossy.webp")), p);
    }
    char out[8192];
    // --no-watch: no catch-up build at start, so "idle" below proves the cross-site POST started none.
    const char *args[] = {"--data", g_data, "--folder", g_lib, "--no-model", "--max-upload", "1", "--no-watch"};
    g_pid = serve(args, 8, &g_port, out, sizeof out);
    if (g_pid < 0) return fprintf(stderr, "lisa serve did not start: %s\n", out), -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (g_pid > 0) stop(g_pid);
    return 0;
}

// ---------------------------------------------------------------- cases

static void test_rebinding_and_cross_site(void **state)
{
    (void)state;
    char req[1024], out[8192];
    snprintf(req, sizeof req, "GET /api/search?q=a HTTP/1.1\r\nHost: evil.example:%d\r\n\r\n", g_port);
    assert_int_equal(raw_str(req, out, sizeof out), 421);
    snprintf(req, sizeof req,
             "POST /api/build HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nOrigin: http://evil.example\r\n"
             "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi",
             g_port);
    assert_int_equal(raw_str(req, out, sizeof out), 403);
    snprintf(req, sizeof req,
             "POST /api/upload HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nSec-Fetch-Site: cross-site\r\n"
             "Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: 9\r\n\r\n--XyZ--\r\n",
             g_port);
    assert_int_equal(raw_str(req, out, sizeof out), 403);
    snprintf(req, sizeof req, "GET /api/build HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", g_port);
    assert_int_equal(raw_str(req, out, sizeof out), 200);
    assert_non_null(strstr(out, "\"state\":\"idle\"")); // the cross-site POST started nothing
    static const char nul[] = "GET /api/health\0/../x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    assert_int_equal(raw(nul, sizeof nul - 1, out, sizeof out), 400);
}

static void test_uploads(void **state)
{
    (void)state;
    char out[8192], images[700], tmp[700];
    snprintf(images, sizeof images, "%s/images", g_data);
    snprintf(tmp, sizeof tmp, "%s/tmp", g_data);
    size_t n;
    uint8_t *png = tu_read(tu_data("images/gray.png"), &n);
    assert_int_equal(upload(png, n, "t.png", 11, out, sizeof out), 400);         // no closing boundary
    assert_int_equal(upload(png, n, "t.png", n / 2 + 11, out, sizeof out), 400); // half the file, no boundary
    assert_int_equal(count_dir(images), 0);
    // 2 GB announced with Expect: 100-continue: 413 at once
    char req[512];
    snprintf(req, sizeof req,
             "POST /api/upload HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n"
             "Content-Length: 2147483648\r\nExpect: 100-continue\r\n\r\n",
             g_port);
    assert_int_equal(raw_str(req, out, sizeof out), 413);
    assert_int_equal(count_dir(tmp), 0);
    free(png);
}

// A PNG stating 9000 x 9000 with 40 rows of data, the 35-byte GIF claiming
// 10000 x 10000 (refused at upload now), and a WebP whose RIFF size makes
// Exiv2 throw.
static void test_bombs_then_build(void **state)
{
    (void)state;
    char out[16384], p[900];
    uint8_t gif[64] = "GIF89a";
    gif[6] = 0x10, gif[7] = 0x27, gif[8] = 0x10, gif[9] = 0x27, gif[10] = 0x80;
    size_t o = 19;
    gif[o++] = 0x2c, o += 4;
    gif[o++] = 0x10, gif[o++] = 0x27, gif[o++] = 0x10, gif[o++] = 0x27, gif[o++] = 0;
    gif[o++] = 2, gif[o++] = 3, gif[o++] = 0x44, gif[o++] = 0x01, gif[o++] = 0, gif[o++] = 0x3b;
    assert_int_equal(upload(gif, o, "bomb.gif", 0, out, sizeof out), 422); // refused at upload (img_probe)
    if (!strstr(out, "\"bad_image\"") || !strstr(out, "bomb.gif cannot be read")) fail_msg("bomb.gif: %s", out);
    size_t n;
    uint8_t *w = tu_read(tu_data("images/lossy.webp"), &n);
    w[4] = w[5] = w[6] = w[7] = 0xff;
    assert_int_equal(upload(w, n, "riff.webp", 0, out, sizeof out), 422); // the decoder refuses it too
    if (!strstr(out, "riff.webp cannot be read (WebP: ")) fail_msg("riff.webp: %s", out);
    free(w);
    snprintf(p, sizeof p, "%s/swap.jpg", g_lib);
    char req[512];
    snprintf(req, sizeof req, "POST /api/build HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: 0\r\n\r\n", g_port);
    assert_int_equal(raw_str(req, out, sizeof out), 202);
    wait_build();
    assert_int_equal(get("/api/build", out, sizeof out), 200);
    assert_non_null(strstr(out, "\"state\":\"done\""));
    assert_int_equal(get("/api/image/swap.jpg", out, sizeof out), 200);
    // the symlink swap after indexing
    unlink(p);
    assert_int_equal(symlink("/etc/passwd", p), 0);
    int st = get("/api/image/swap.jpg", out, sizeof out);
    if (st != 404 || strstr(out, "root:")) fail_msg("symlink swap served: %d", st);
    assert_int_equal(get("/api/stats", out, sizeof out), 200);
    // the stale tmp went at start; thumb_count counts real thumbnails only (land, gray, lossy)
    assert_non_null(strstr(out, "\"thumb_count\":3"));
    snprintf(p, sizeof p, "%s/thumbnails", g_data);
    assert_int_equal(count_dir(p), 3);
}

static void test_model_dirs(void **state)
{
    (void)state;
    char dir[700], p[3000], out[8192], models[600], data[600];
    int port;
    snprintf(data, sizeof data, "%s", tu_tmp("data_models"));
    if (tu_find_models("tiny-a", models, sizeof models, "tests/setup/clip_models.sh") < 0) skip();
    // a whole model dir whose config.json is a directory
    snprintf(dir, sizeof dir, "%s", tu_tmp("model_dirconf"));
    snprintf(p, sizeof p, "cp -r %s/tiny-a %s && rm %s/config.json && mkdir %s/config.json", models, dir, dir, dir);
    assert_int_equal(system(p), 0);
    const char *a1[] = {"--data", data, "--model", dir};
    pid_t pid = serve(a1, 4, &port, out, sizeof out); // keyword-only, saying why
    assert_true(pid > 0);
    int main_port = g_port;
    g_port = port;
    int code = get("/api/search?q=a", out, sizeof out);
    g_port = main_port;
    stop(pid);
    assert_int_equal(code, 200);
    if (!strstr(out, "config.json is a directory, not a model file")) fail_msg("config.json a directory: %s", out);
    // and the file reader itself says so for the model loader (lisa embed)
    snprintf(p, sizeof p, "%s embed --model %s --text hi 2>&1", g_bin, dir);
    FILE *f = popen(p, "r");
    size_t got = fread(out, 1, sizeof out - 1, f);
    out[got] = 0;
    pclose(f);
    if (!strstr(out, "config.json is a directory") && !strstr(out, "config.json: a directory"))
        fail_msg("lisa embed with config.json a directory: %s", out);
    // NaN in a weight of a copy of the tiny-a fixture
    snprintf(dir, sizeof dir, "%s", tu_tmp("model_nan"));
    snprintf(p, sizeof p, "cp -r %s/tiny-a %s", models, dir);
    assert_int_equal(system(p), 0);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    size_t n;
    uint8_t *st = tu_read(p, &n);
    uint64_t hl = 0;
    for (int i = 0; i < 8; i++) hl |= (uint64_t)st[i] << (8 * i);
    char *hdr = strndup((const char *)st + 8, (size_t)hl);
    cJSON *h = cJSON_Parse(hdr);
    const cJSON *t = cJSON_GetObjectItem(h, "text_model.final_layer_norm.weight");
    assert_non_null(t);
    assert_string_equal(cJSON_GetObjectItem(t, "dtype")->valuestring, "F32");
    size_t off = 8 + (size_t)hl + (size_t)cJSON_GetArrayItem(cJSON_GetObjectItem(t, "data_offsets"), 0)->valuedouble;
    memcpy(st + off + 4, "\x00\x00\xc0\x7f", 4); // element 1: NaN
    tu_write(p, st, n);
    free(st), free(hdr), cJSON_Delete(h);
    const char *a2[] = {"--data", data, "--model", dir};
    if ((pid = serve(a2, 4, &port, out, sizeof out)) > 0) {
        stop(pid);
        fail_msg("served with NaN weights");
    }
    if (!strstr(out, "text_model.final_layer_norm.weight: element 1 is NaN")) fail_msg("NaN weights: %s", out);
}

static void test_still_healthy_and_stops(void **state)
{
    (void)state;
    char out[8192];
    assert_int_equal(get("/api/health", out, sizeof out), 200);
    assert_int_equal(stop(g_pid), 0);
    g_pid = 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rebinding_and_cross_site), cmocka_unit_test(test_uploads),
        cmocka_unit_test(test_bombs_then_build),         cmocka_unit_test(test_model_dirs),
        cmocka_unit_test(test_still_healthy_and_stops),
    };
    return cmocka_run_group_tests_name("hostile", tests, setup, teardown);
}
