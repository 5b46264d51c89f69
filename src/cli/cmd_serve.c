// `lisa serve [--data DIR] [--host H] [--port N] [--model DIR] ...`: the web
// UI and JSON API (server/server.h, docs/api.md) until SIGINT/SIGTERM.
#include "cli/cli.h"
#include "base/err.h"
#include "search/settings.h"
#include "server/server.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void)
{
    fprintf(stderr,
            "usage: lisa serve [--data DIR] [--host H] [--port N] [--model DIR] [--folder DIR]...\n"
            "                  [--max-upload MB] [--threads N] [--token T] [--no-model] [--quiet]\n"
            "                  [--allow-host NAME]... [--insecure-no-token] [--no-auto-index] [--no-watch]\n"
            "  serves the web UI and the JSON API (docs/api.md); binds 127.0.0.1 unless --host says otherwise.\n"
            "  LISA_TOKEN (or --token) requires 'Authorization: Bearer T' on /api/*; required beyond loopback\n"
            "  unless --insecure-no-token. --allow-host adds a name the Host header may carry.\n"
            "  The library folders (--folder, kept in the index, and /api/folders) are watched with inotify\n"
            "  (--no-watch, watch = off) and uploads indexed at once (--no-auto-index, auto_index = off).\n");
    return 2;
}

static int loopback(const char *h)
{
    return !h || !strcmp(h, "127.0.0.1") || !strcmp(h, "localhost") || !strcmp(h, "::1");
}

static int parse_mb(const char *v, long long *bytes)
{
    char *end;
    double mb = strtod(v, &end);
    if (*end || !(mb > 0) || mb > 1024 * 1024) return -1;
    *bytes = (long long)(mb * 1024 * 1024);
    return 0;
}

// Flags of serve itself; returns -1 on a bad or unknown one.
static int parse(int argc, char **argv, srv_opts *o, const char **folders, const char **hosts)
{
    const char *env = getenv("LISA_MAX_UPLOAD_MB");
    if (env && parse_mb(env, &o->max_upload) < 0) return fprintf(stderr, "lisa: LISA_MAX_UPLOAD_MB: bad value\n"), -1;
    o->token = getenv("LISA_TOKEN");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (settings_flag_arity(a))
            i++;
        else if (!strcmp(a, "--host") && v)
            o->host = v, i++;
        else if (!strcmp(a, "--folder") && v && o->nfolders < SRV_FOLDERS_MAX)
            folders[o->nfolders++] = v, i++;
        else if (!strcmp(a, "--max-upload") && v && parse_mb(v, &o->max_upload) == 0)
            i++;
        else if (!strcmp(a, "--threads") && v)
            o->threads = atoi(v), i++;
        else if (!strcmp(a, "--token") && v)
            o->token = v, i++;
        else if (!strcmp(a, "--allow-host") && v && o->nallow_hosts < SRV_FOLDERS_MAX)
            hosts[o->nallow_hosts++] = v, i++;
        else if (!strcmp(a, "--insecure-no-token"))
            o->insecure_no_token = 1;
        else if (!strcmp(a, "--no-model"))
            o->no_model = 1;
        else if (!strcmp(a, "--no-auto-index"))
            o->auto_index = 0;
        else if (!strcmp(a, "--no-watch"))
            o->watch = 0;
        else if (!strcmp(a, "--quiet"))
            o->quiet = 1;
        else
            return -1;
    }
    return 0;
}

int cmd_serve(int argc, char **argv)
{
    settings cfg;
    if (settings_resolve(&cfg, argc, argv) < 0) return cli_fail("serve");
    srv_opts o;
    srv_opts_init(&o);
    const char *folders[SRV_FOLDERS_MAX], *hosts[SRV_FOLDERS_MAX];
    o.auto_index = cfg.auto_index, o.watch = cfg.watch; // the flags below may turn them off
    if (parse(argc, argv, &o, folders, hosts) < 0) return usage();
    o.allow_hosts = hosts;
    o.data_dir = cfg.data_dir, o.port = cfg.port, o.models = cfg.models, o.folders = folders;
    o.top_k = cfg.top_k, o.clip_weight = cfg.clip_weight, o.thumb_size = cfg.thumbnail_size;
    o.no_ocr = !cfg.ocr, o.ocr_lang = cfg.ocr_lang, o.no_captions = !cfg.captions;
    o.version = LISA_VERSION;
    if (!loopback(o.host) && ((o.token && o.token[0]) || o.insecure_no_token))
        fprintf(stderr, "lisa: WARNING: serving on %s, reachable from other machines; %s\n", o.host,
                o.token && o.token[0] ? "a bearer token is required for /api/*"
                                      : "no token (--insecure-no-token): anyone on the network may use it");
    sigset_t set; // blocked before any thread starts, so only sigwait() sees them
    sigemptyset(&set);
    sigaddset(&set, SIGINT), sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    srv *s = NULL;
    if (srv_start(&o, &s) < 0) return cli_fail("serve");
    fprintf(stderr, "lisa: serving http://%s:%d/ (data %s)\n", o.host ? o.host : "127.0.0.1", srv_port(s),
            cfg.data_dir);
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "lisa: %s: finishing requests in flight and stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    srv_stop(s);
    fprintf(stderr, "lisa: stopped\n");
    return 0;
}
