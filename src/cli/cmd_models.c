// lisa models pull|list|path: install Hugging Face checkpoints and show where they are.
#include "base/err.h"
#include "cli/cli.h"
#include "model/catalog.h"
#include "model/hub.h"
#include "model/modeldir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: lisa models pull NAME [--dest DIR] [--revision REV] [--data DIR]\n"
    "       lisa models list [--available] [--data DIR]\n"
    "       lisa models path [NAME] [--model DIR] [--data DIR]\n"
    "  NAME: clip-vit-base-patch32-laion2b (default), clip-vit-base-patch32, clip-vit-base-patch16,\n"
    "        clip-vit-large-patch14, blip-image-captioning-base, blip-image-captioning-large, a name from\n"
    "        `lisa models list --available` (siglip-base-patch16-224, siglip2-base-patch16-224,\n"
    "        siglip2-large-patch16-256), or a hub repo id owner/name\n"
    "  pull downloads from $LISA_HF_ENDPOINT (default https://huggingface.co) into\n"
    "  DATA/models/NAME (DATA: --data, $LISA_DATA or ./data); an interrupted pull resumes.\n"
    "  list --available: the catalog (short names, repos, sizes, languages, recall), installed "
    "ones marked.\n";

typedef struct {
    const char *name, *dest, *revision, *data, *model;
    int available; // list --available
} args;

// Parses argv after the subcommand; 0 or -1 (usage printed).
static int parse(int argc, char **argv, args *a)
{
    memset(a, 0, sizeof *a);
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i];
        const char **slot = !strcmp(o, "--dest")       ? &a->dest
                            : !strcmp(o, "--revision") ? &a->revision
                            : !strcmp(o, "--data")     ? &a->data
                            : !strcmp(o, "--model")    ? &a->model
                                                       : NULL;
        if (slot && i + 1 < argc)
            *slot = argv[++i];
        else if (!strcmp(o, "--available"))
            a->available = 1;
        else if (o[0] != '-' && !a->name)
            a->name = o;
        else
            return fprintf(stderr, "lisa models: unexpected '%s'\n%s", o, usage), -1;
    }
    return 0;
}

static int models_pull(const args *a)
{
    char repo[HUB_NAME_MAX], local[HUB_NAME_MAX], dest[MODELDIR_PATH_MAX];
    hub_opts o = {.revision = a->revision, .progress = stderr, .retries = -1};
    hub_report r;
    if (!a->name) return fprintf(stderr, "lisa models pull: which model?\n%s", usage), 2;
    if (hub_resolve_name(a->name, repo, local) < 0) return cli_fail("models pull");
    int n = a->dest ? snprintf(dest, sizeof dest, "%s", a->dest)
                    : snprintf(dest, sizeof dest, "%s/models/%s", modeldir_data_dir(a->data), local);
    if (n < 0 || (size_t)n >= sizeof dest) {
        fprintf(stderr, "lisa models pull: destination path too long\n");
        return 1;
    }
    if (hub_pull(repo, dest, &o, &r) < 0) return cli_fail("models pull");
    fprintf(stderr,
            "installed %s into %s: %d downloaded (%.1f MiB), %d already present, "
            "sha256 checked for %d, git blob id for %d\n",
            repo, dest, r.files_downloaded, r.bytes / 1048576.0, r.files_kept, r.files_sha_checked,
            r.files_blob_checked);
    if (r.shards) fprintf(stderr, "weights in %d shards (model.safetensors.index.json)\n", r.shards);
    if (!r.have_metadata)
        fprintf(stderr, "warning: the server gave no file metadata; sizes and checksums were "
                        "checked only where its headers carried them\n");
    int rc = modeldir_check(dest, modeldir_kind_of(local), a->name, NULL);
    if (rc < 0) fprintf(stderr, "warning: %s\n", lisa_errmsg_for(rc));
    printf("%s\n", dest);
    return 0;
}

// The catalog, with what is installed under the data dir (or $LISA_MODELS).
static int models_available(const args *a)
{
    size_t n;
    const catalog_entry *e = catalog_all(&n);
    printf("%-30s %-7s %-26s %7s %9s %-12s %7s %8s %-10s %s\n", "name", "family", "architecture", "params", "download",
           "languages", "recall%", "ms/text", "installed", "repo");
    for (size_t i = 0; i < n; i++) {
        char dir[MODELDIR_PATH_MAX], rec[16] = "-", ms[16] = "-";
        const char *inst = "-";
        if (modeldir_resolve(NULL, a->data, e[i].name, dir, sizeof dir) == 0) {
            const char *missing = NULL;
            if (modeldir_check(dir, modeldir_kind_of(e[i].name), e[i].name, &missing) == 0)
                inst = "yes";
            else if (missing && strcmp(missing, "config.json"))
                inst = "partial";
            lisa_clearerr();
        }
        if (e[i].recall >= 0) snprintf(rec, sizeof rec, "%.1f", e[i].recall);
        if (e[i].text_ms >= 0) snprintf(ms, sizeof ms, "%.1f", e[i].text_ms);
        printf("%-30s %-7s %-26s %6dM %5d MiB %-12s %7s %8s %-10s %s\n", e[i].name, catalog_family_name(e[i].family),
               e[i].arch, e[i].params_m, e[i].mib, e[i].languages, rec, ms, inst, e[i].repo);
        if (e[i].note[0]) printf("%-30s   note: %s\n", "", e[i].note);
    }
    printf("\nrecall%% and ms/text: %s. Downloads are fp32 sizes from the parameter counts (approximate).\n"
           "install with: lisa models pull NAME; docs/models.md compares them\n",
           CATALOG_RECALL_SOURCE);
    return 0;
}

static int models_list(const args *a)
{
    if (a->available) return models_available(a);
    modeldir_entry *v;
    size_t n;
    if (modeldir_list(a->data, &v, &n) < 0) return cli_fail("models list");
    if (n == 0)
        printf("no models under %s/models%s\ninstall one with: lisa models pull %s\n", modeldir_data_dir(a->data),
               getenv("LISA_MODELS") ? " or $LISA_MODELS" : "", MODELDIR_DEFAULT_CLIP);
    for (size_t i = 0; i < n; i++) {
        char status[96];
        if (v[i].missing)
            snprintf(status, sizeof status, "incomplete: no %s%s", v[i].missing, v[i].partial ? " (pull resumes)" : "");
        else
            snprintf(status, sizeof status, "complete");
        printf("%-30s %-6s %9.1f MiB  %-40s %s\n", v[i].name, v[i].model_type[0] ? v[i].model_type : "?",
               v[i].bytes / 1048576.0, status, v[i].path);
    }
    free(v);
    return 0;
}

static int models_path(const args *a)
{
    char dir[MODELDIR_PATH_MAX];
    const char *name = a->name ? a->name : MODELDIR_DEFAULT_CLIP;
    if (modeldir_resolve(a->model, a->data, a->name, dir, sizeof dir) < 0)
        return cli_fail("models path"); // NULL: the default, or the legacy one installed
    printf("%s\n", dir);
    int rc = modeldir_check(dir, modeldir_kind_of(name), name, NULL);
    if (rc < 0) {
        fprintf(stderr, "lisa: %s\n", lisa_errmsg_for(rc));
        return 1;
    }
    return 0;
}

int cmd_models(int argc, char **argv)
{
    args a;
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
        return fputs(usage, argc < 2 ? stderr : stdout), argc < 2 ? 2 : 0;
    if (parse(argc, argv, &a) < 0) return 2;
    if (!strcmp(argv[1], "pull")) return models_pull(&a);
    if (!strcmp(argv[1], "list")) return models_list(&a);
    if (!strcmp(argv[1], "path")) return models_path(&a);
    fprintf(stderr, "lisa models: unknown subcommand '%s'\n%s", argv[1], usage);
    return 2;
}
