// The command table: one cmd_*() per file in src/cli/, git builtin style.
// Each takes argv after the command name (argv[0] is the command) and
// returns the process exit status. Commands print their own errors.
#ifndef LISA_CLI_H
#define LISA_CLI_H

int cmd_help(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_preprocess(int argc, char **argv);
int cmd_thumb(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_caption(int argc, char **argv);
int cmd_models(int argc, char **argv);
int cmd_index(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_similar(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_duplicates(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_watch(int argc, char **argv);

// Prints "lisa: <msg>" to stderr, naming the failed code's detail; returns 1.
int cli_fail(const char *what);

#define LISA_VERSION "0.1.0"

#endif
