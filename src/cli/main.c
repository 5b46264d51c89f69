#include "cli/cli.h"
#include "base/err.h"

#include <stdio.h>
#include <string.h>

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *usage;
};

static const struct command commands[] = {
    {"help", cmd_help, "help                       list the commands"},
    {"version", cmd_version, "version                    print the version"},
    {"preprocess", cmd_preprocess,
     "preprocess [--config F] [--pixels P] [--tensor T] IMAGE  CLIP-preprocess one image"},
    {"models", cmd_models, "models pull|list|path [NAME]  install or locate CLIP/BLIP checkpoints"},
    {"embed", cmd_embed, "embed --model DIR (--text T | --image FILE)...  CLIP unit embeddings as JSON"},
    {"caption", cmd_caption, "caption [--model DIR] [--beams K] [--prompt P] [--json] IMAGE...  BLIP captions"},
    {"tokenize", cmd_tokenize, "tokenize --model DIR TEXT...  CLIP token ids, one JSON array per text"},
    {"index", cmd_index, "index PATH... [--model DIR] [--data DIR]  index folders in place, incrementally"},
    {"search", cmd_search, "search \"query\" [--top-k N] [--clip-weight W] [--json]  hybrid CLIP + keyword search"},
    {"list", cmd_list, "list [FILTER...] [--sort S] [--offset N] [--limit N] [--json]  page the library, filtered"},
    {"similar", cmd_similar, "similar IMAGE [--top-k N] [--json]  images similar to IMAGE"},
    {"stats", cmd_stats, "stats [--json]             counts, db size, models, last index time"},
    {"duplicates", cmd_duplicates, "duplicates [--json]        groups of exact copies and near-duplicates"},
    {"export", cmd_export, "export --json [--embeddings] [-o FILE]  the library as one JSON document"},
    {"serve", cmd_serve, "serve [--data DIR] [--host H] [--port N] [--model DIR]  web UI and JSON API"},
    {"watch", cmd_watch,
     "watch PATH... [--model DIR] [--data DIR]  index folders, then follow their changes (inotify)"},
    {"thumb", cmd_thumb, "thumb [--size N] IMAGE OUT.jpg  write a JPEG thumbnail"},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

int cli_fail(const char *what)
{
    // Called right after a failed call: its code is the last one recorded.
    fprintf(stderr, "lisa: %s: %s\n", what, lisa_errcode() ? lisa_errmsg() : "failed");
    return 1;
}

// Each usage string is "name args  summary": two spaces start the summary.
int cmd_help(int argc, char **argv)
{
    (void)argc, (void)argv;
    printf("usage: lisa <command> [args]\n\ncommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++) {
        const char *u = commands[i].usage, *sep = strstr(u, "  ");
        if (!sep) {
            printf("  %s\n", u);
            continue;
        }
        const char *sum = sep;
        while (*sum == ' ') sum++;
        printf("  %-10s %s\n  %10s lisa %.*s\n", commands[i].name, sum, "", (int)(sep - u), u);
    }
    return 0;
}

int cmd_version(int argc, char **argv)
{
    (void)argc, (void)argv;
    printf("lisa %s\n", LISA_VERSION);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) return cmd_help(0, NULL), 2;
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h")) name = "help";
    if (!strcmp(name, "--version")) name = "version";
    lisa_clearerr();
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (!strcmp(commands[i].name, name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "lisa: '%s' is not a command; see 'lisa help'\n", argv[1]);
    return 2;
}
