// `lisa similar IMAGE [--top-k N]`: image-to-image search (shares cmd_search's
// flags and output through cmd_search_run()).
#include "cli/cli.h"

int cmd_search_similar(int argc, char **argv);

int cmd_similar(int argc, char **argv)
{
    return cmd_search_similar(argc, argv);
}
