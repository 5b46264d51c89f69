// `lisa list [FILTER...] [--sort S] [--offset N] [--limit N] [--json]`: pages
// the library, newest first by default, through the query language's filters
// (docs/search.md); shares search's flags and output (cmd_search.c).
#include "cli/cli.h"

int cmd_search_list(int argc, char **argv);

int cmd_list(int argc, char **argv)
{
    return cmd_search_list(argc, argv);
}
