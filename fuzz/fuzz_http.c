// libFuzzer target: the HTTP request parsers of `lisa serve` as a client
// reaches them, over a real loopback connection to a server started once
// (keyword-only, data dir under $TMPDIR). The first byte picks the route:
//   even: GET /api/search?<bytes>  (query string, percent-decoding, params)
//   odd:  POST /api/upload, multipart/form-data; boundary=XyZ, body <bytes>
// Every answer must be a well-formed HTTP status line below 500. Saved
// uploads are removed after each run.
#include "base/err.h"
#include "server/server.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static srv *g_srv;
static int g_port;
static char g_data[256], g_images[300];

// At exit (libFuzzer's -runs/-max_total_time end with exit()): stop the
// server and remove its data dir.
static void stop(void)
{
    srv_stop(g_srv);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_data);
    if (system(cmd) != 0) fprintf(stderr, "fuzz_http: could not remove %s\n", g_data);
}

static void start(void)
{
    const char *t = getenv("TMPDIR");
    snprintf(g_data, sizeof g_data, "%s/lisa-fuzz-http-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(g_data)) abort();
    snprintf(g_images, sizeof g_images, "%s/images", g_data);
    srv_opts o;
    srv_opts_init(&o);
    o.data_dir = g_data, o.port = 0, o.no_model = 1, o.quiet = 1, o.threads = 2, o.version = "fuzz";
    o.max_upload = 256 * 1024;
    if (srv_start(&o, &g_srv) < 0) {
        fprintf(stderr, "fuzz_http: srv_start: %s\n", lisa_errmsg());
        abort();
    }
    g_port = srv_port(g_srv);
    atexit(stop);
}

static void send_all(int fd, const void *p, size_t n)
{
    const char *b = p;
    while (n) {
        ssize_t k = send(fd, b, n, MSG_NOSIGNAL);
        if (k <= 0) return; // the server may close early (413, 400)
        b += k, n -= (size_t)k;
    }
}

static void clear_images(void)
{
    DIR *d = opendir(g_images);
    if (!d) return;
    struct dirent *e;
    char p[600];
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') snprintf(p, sizeof p, "%s/%s", g_images, e->d_name), unlink(p);
    closedir(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_srv) start();
    if (size < 1 || size > 65536) return 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = -1;
    // Tens of thousands of loopback connections a minute can run out of
    // ephemeral ports for a moment (a harness limit, not a server fault):
    // retry for up to 5 s before calling it one.
    for (int tries = 0; fd < 0 && tries < 250; tries++) {
        if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0) abort();
        if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) close(fd), fd = -1, usleep(20000);
    }
    if (fd < 0) {
        fprintf(stderr, "fuzz_http: cannot connect to 127.0.0.1:%d: %s\n", g_port, strerror(errno));
        abort();
    }
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct linger lg = {.l_onoff = 1, .l_linger = 0}; // close with RST: no TIME_WAIT pile-up
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    char head[512];
    int upload = data[0] & 1;
    if (upload) {
        snprintf(head, sizeof head,
                 "POST /api/upload HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
                 "Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: %zu\r\n\r\n",
                 g_port, size - 1);
        send_all(fd, head, strlen(head));
        send_all(fd, data + 1, size - 1);
    } else {
        send_all(fd, "GET /api/search?", 16);
        send_all(fd, data + 1, size - 1);
        snprintf(head, sizeof head, " HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n", g_port);
        send_all(fd, head, strlen(head));
    }
    char resp[64] = "";
    size_t got = 0;
    ssize_t k;
    while (got < sizeof resp - 1 && (k = recv(fd, resp + got, sizeof resp - 1 - got, 0)) > 0) got += (size_t)k;
    resp[got] = 0;
    char sink[4096];
    while (recv(fd, sink, sizeof sink, 0) > 0) {}
    close(fd);
    int status = 0;
    if (got && (sscanf(resp, "HTTP/1.%*d %d", &status) != 1 || status < 100 || status >= 500)) {
        fprintf(stderr, "fuzz_http: bad answer to a %s: %s\n", upload ? "upload" : "search", resp);
        abort();
    }
    if (upload) clear_images();
    return 0;
}
