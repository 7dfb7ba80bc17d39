/*
 * opts.c - see opts.h. Numbers go through strtol/strtod with the end pointer checked: "10x" or
 * "" is an error, never 10 or 0.
 */
#include "opts.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

cli_opt *cli_find(cli_opt *opts, const char *name) {
    for (cli_opt *o = opts; o->name; o++)
        if (strcmp(o->name, name) == 0) return o;
    return NULL;
}

static int set_value(const char *cmd, cli_opt *o, const char *v) {
    char *end;
    errno = 0;
    switch (o->kind) {
    case OPT_INT: {
        long x = strtol(v, &end, 10);
        if (!*v || *end || errno || x < o->min || x > o->max) {
            fprintf(stderr, "cnn %s: --%s %s: expected an integer from %.0f to %.0f\n", cmd,
                    o->name, v, o->min, o->max);
            return 0;
        }
        *(int *)o->dst = (int)x;
        return 1;
    }
    case OPT_FLOAT: {
        double x = strtod(v, &end);
        if (!*v || *end || errno || !isfinite(x) || x < o->min || x > o->max) {
            fprintf(stderr, "cnn %s: --%s %s: expected a number from %g to %g\n", cmd, o->name,
                    v, o->min, o->max);
            return 0;
        }
        *(float *)o->dst = (float)x;
        return 1;
    }
    case OPT_STRING:
        if (!*v) {
            fprintf(stderr, "cnn %s: --%s: the value is empty\n", cmd, o->name);
            return 0;
        }
        *(const char **)o->dst = v;
        return 1;
    case OPT_FLAG: *(int *)o->dst = 1; return 1;
    case OPT_LIST: {
        cli_list *l = o->dst;
        if (!*v || l->n == CLI_LIST_MAX) {
            fprintf(stderr, "cnn %s: --%s: %s\n", cmd, o->name,
                    *v ? "given too many times (16 at most)" : "the value is empty");
            return 0;
        }
        l->v[l->n++] = v;
        return 1;
    }
    }
    return 0;
}

/* One option, argv[*i] (which starts with "--"), and its value: the next argument unless
 * given as --name=value; *i moves past what it took. */
static int parse_option(const char *cmd, cli_opt *opts, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    char name[64];
    const char *eq = strchr(a + 2, '=');
    size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
    if (len >= sizeof name) len = sizeof name - 1;
    memcpy(name, a + 2, len);
    name[len] = 0;
    cli_opt *o = cli_find(opts, name);
    if (!o) {
        fprintf(stderr, "cnn %s: unknown option '--%s' (see cnn help %s)\n", cmd, name, cmd);
        return 0;
    }
    if (o->given && o->kind != OPT_LIST) {
        fprintf(stderr, "cnn %s: --%s given twice\n", cmd, name);
        return 0;
    }
    o->given = 1;
    if (o->kind == OPT_FLAG) {
        if (eq) fprintf(stderr, "cnn %s: --%s takes no value\n", cmd, name);
        return eq ? 0 : set_value(cmd, o, "");
    }
    const char *v = eq ? eq + 1 : NULL;
    if (!v) {
        if (*i + 1 >= argc) {
            fprintf(stderr, "cnn %s: --%s needs a value (%s)\n", cmd, name, o->arg);
            return 0;
        }
        v = argv[++*i];
    }
    return set_value(cmd, o, v);
}

int cli_parse(const char *cmd, cli_opt *opts, int argc, char **argv, const char **pos,
              int max_pos, int *n_pos) {
    *n_pos = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] == 0) {
            if (*n_pos == max_pos) {
                fprintf(stderr, "cnn %s: unexpected argument '%s' (see cnn help %s)\n", cmd, a,
                        cmd);
                return 0;
            }
            pos[(*n_pos)++] = a;
            continue;
        }
        if (a[1] != '-') {
            fprintf(stderr, "cnn %s: unknown option '%s' (options are --name; see cnn help %s)\n",
                    cmd, a, cmd);
            return 0;
        }
        if (!parse_option(cmd, opts, argc, argv, &i)) return 0;
    }
    return 1;
}

void cli_help(FILE *f, const char *usage, const char *about, const cli_opt *opts) {
    fprintf(f, "usage: %s\n\n%s\n", usage, about);
    if (opts->name) fprintf(f, "\noptions:\n");
    for (const cli_opt *o = opts; o->name; o++) {
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", o->name, o->kind == OPT_FLAG ? "" : " ",
                 o->kind == OPT_FLAG ? "" : o->arg);
        fprintf(f, "  %-22s %s\n", left, o->help);
    }
}
