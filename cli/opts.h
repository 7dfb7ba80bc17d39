/*
 * opts.h - command-line options for the cnn tool: one table per command gives parsing, range
 * checks and the help text, so they cannot disagree.
 */
#ifndef CNN_CLI_OPTS_H
#define CNN_CLI_OPTS_H

#include <stdio.h>

typedef enum opt_kind { OPT_INT, OPT_FLOAT, OPT_STRING, OPT_FLAG, OPT_LIST } opt_kind;

/* The values of an OPT_LIST option, which may be given several times. */
#define CLI_LIST_MAX 16
typedef struct cli_list {
    const char *v[CLI_LIST_MAX];
    int n;
} cli_list;

typedef struct cli_opt {
    const char *name; /* without the dashes: "epochs" is --epochs */
    opt_kind kind;
    void *dst;        /* int*, float*, const char**, int* (flag), cli_list* (list) */
    const char *arg;  /* the value's name in the help, e.g. "N" */
    const char *help;
    double min, max;  /* allowed range for numbers */
    int given;        /* set by cli_parse */
} cli_opt;

/* Parses argv[0..argc) (argv[0] is the first argument after the command's name) against the
 * table (terminated by an entry with name NULL); positional arguments go to pos (at most
 * max_pos; their count in *n_pos). On error prints "cnn CMD: ..." to stderr and returns 0. */
int cli_parse(const char *cmd, cli_opt *opts, int argc, char **argv, const char **pos,
              int max_pos, int *n_pos);

/* Prints "usage: ..." and the table. */
void cli_help(FILE *f, const char *usage, const char *about, const cli_opt *opts);

/* The entry for name, or NULL. */
cli_opt *cli_find(cli_opt *opts, const char *name);

#endif
