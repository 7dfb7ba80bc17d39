/*
 * netdef.c - networks as text: the reader and the writer of the format in docs/FORMAT.md.
 *
 *   line      := [statement] [# comment]
 *   statement := [name '='] type ['(' name {',' name} ')'] {key=value}
 *
 * The reader builds the network through cnn_add, so every check a C caller gets (unknown type
 * or key, bad value, impossible shape) applies to files too; this file adds the position:
 * "net.txt:3:14: conv2d 'c1': unknown key 'strid' ...". A layer may only take layers defined
 * above it as inputs, which also rules out cycles.
 */
#include "../core/internal.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

/* Parser state over one line. */
typedef struct line_reader {
    const char *source;
    int line;
    const char *start; /* the line's first character */
    const char *p;
    char *err;
    size_t errlen;
} line_reader;

static cnn_status fail_at(line_reader *r, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static cnn_status fail_at(line_reader *r, const char *at, const char *fmt, ...) {
    int n = snprintf(r->err, r->errlen, "%s:%d:%d: ", r->source, r->line, (int)(at - r->start) + 1);
    if (n >= 0 && (size_t)n < r->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->err + n, r->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return CNN_STATUS_INVALID_ARGUMENT;
}

static int is_name_char(int c) { return isalnum(c) || c == '_' || c == '.' || c == '-'; }

static void skip_blanks(line_reader *r) {
    while (*r->p == ' ' || *r->p == '\t') r->p++;
}

/* Reads a name into buf; returns its length (0 if there is none). */
static size_t read_name(line_reader *r, char *buf, size_t size) {
    const char *s = r->p;
    while (is_name_char((unsigned char)*r->p)) r->p++;
    size_t len = (size_t)(r->p - s);
    if (len < size) {
        memcpy(buf, s, len);
        buf[len] = 0;
    }
    return len;
}

/* Does `name` stand as a layer name at the start of some later statement? Returns its line. */
static int defined_later(const char *rest, int line, const char *name) {
    for (const char *p = rest; *p; line++) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        const char *q = p;
        while (q < p + len && (*q == ' ' || *q == '\t')) q++;
        size_t nl = strlen(name);
        if ((size_t)(p + len - q) > nl && strncmp(q, name, nl) == 0) {
            const char *a = q + nl;
            while (a < p + len && (*a == ' ' || *a == '\t')) a++;
            if (a < p + len && *a == '=') return line;
        }
        if (!eol) break;
        p = eol + 1;
    }
    return 0;
}

/* Parses and adds the statement on one line (text of len bytes, no newline). */
static cnn_status parse_line(cnn_net *net, line_reader *r, const char *rest_of_text) {
    char first[CNN_NAME_MAX], name[CNN_NAME_MAX] = "", type[CNN_NAME_MAX];
    char inputs[CNN_MAX_INPUTS * (CNN_NAME_MAX + 1)] = "";
    skip_blanks(r);
    const char *stmt = r->p;
    size_t len = read_name(r, first, sizeof first);
    if (len == 0) return fail_at(r, r->p, "expected a layer type or 'name = type', found '%c'", *r->p);
    if (len >= sizeof first) return fail_at(r, stmt, "name longer than %d characters", CNN_NAME_MAX - 1);
    skip_blanks(r);
    const char *type_at = stmt;
    if (*r->p == '=') {
        memcpy(name, first, len + 1);
        r->p++;
        skip_blanks(r);
        type_at = r->p;
        len = read_name(r, type, sizeof type);
        if (len == 0) return fail_at(r, r->p, "expected a layer type after '='");
        if (len >= sizeof type) return fail_at(r, type_at, "unknown layer type");
    } else {
        memcpy(type, first, len + 1);
    }
    if (!cnn_layer_find(type)) {
        char msg[1024];
        cnn_add(net, type, NULL, NULL, NULL); /* for the list of known types */
        snprintf(msg, sizeof msg, "%s", cnn_net_last_error(net));
        return fail_at(r, type_at, "%s", msg);
    }
    /* Blanks may stand between the type and its inputs: "add (a, b)" (arguments never start
     * with '('). */
    const char *after_type = r->p;
    skip_blanks(r);
    if (*r->p != '(') r->p = after_type;
    if (*r->p == '(') {
        r->p++;
        size_t off = 0;
        for (int k = 0;; k++) {
            skip_blanks(r);
            const char *at = r->p;
            char in[CNN_NAME_MAX];
            size_t n = read_name(r, in, sizeof in);
            if (n == 0) return fail_at(r, at, "expected an input layer name");
            if (n >= sizeof in) return fail_at(r, at, "name longer than %d characters", CNN_NAME_MAX - 1);
            if (k == CNN_MAX_INPUTS) return fail_at(r, at, "more than %d inputs", CNN_MAX_INPUTS);
            if (cnn_net_find(net, in) < 0) {
                int later = defined_later(rest_of_text, r->line + 1, in);
                if (later)
                    return fail_at(r, at,
                                   "input '%s' is defined later, at line %d: a layer can only "
                                   "take layers above it (this would be a cycle or a wrong order)",
                                   in, later);
                return fail_at(r, at, "undefined input '%s'", in);
            }
            off += (size_t)snprintf(inputs + off, sizeof inputs - off, "%s%s", k ? "," : "", in);
            skip_blanks(r);
            if (*r->p == ',') {
                r->p++;
                continue;
            }
            if (*r->p == ')') {
                r->p++;
                break;
            }
            return fail_at(r, r->p, "expected ',' or ')' in the input list");
        }
    }
    if (*r->p && *r->p != ' ' && *r->p != '\t')
        return fail_at(r, r->p, "expected a blank before the arguments, found '%c'", *r->p);
    skip_blanks(r);
    const char *args = r->p;
    int col;
    cnn_status st = cnn_add_at(net, type, name[0] ? name : NULL, inputs[0] ? inputs : NULL, args, &col);
    if (st) return fail_at(r, col >= 0 ? args + col : stmt, "%s", cnn_net_last_error(net)), st;
    return CNN_STATUS_OK;
}

/* Whether the line at p (up to a newline or the end) holds a statement: anything but blanks,
 * a comment and the '\r' of a CRLF ending. */
static int holds_statement(const char *p) {
    while (*p == ' ' || *p == '\t') p++;
    if (*p == '\r' && (p[1] == '\n' || !p[1])) return 0;
    return *p && *p != '\n' && *p != '#';
}

/* Counts the statements of text into *count, refusing more than CNN_TEXT_MAX_LAYERS at the
 * line of the first one too many, before anything is built: a definition of a million layers
 * costs one pass over its text. */
static cnn_status count_statements(line_reader *r, const char *text, int *count) {
    int n = 0, line = 0;
    for (const char *p = text; *p;) {
        line++;
        if (holds_statement(p) && ++n > CNN_TEXT_MAX_LAYERS) {
            r->line = line;
            r->start = r->p = "";
            return fail_at(r, r->p, "more than %d layers, the format's limit "
                           "(CNN_TEXT_MAX_LAYERS)", CNN_TEXT_MAX_LAYERS);
        }
        const char *eol = strchr(p, '\n');
        if (!eol) break;
        p = eol + 1;
    }
    *count = n;
    return CNN_STATUS_OK;
}

static cnn_status build_from_text(cnn_net *net, const char *text, const char *source,
                                  char *err, size_t errlen);

/* The network of text, on a new network seeded with seed. With defer set, its layers, shapes
 * and sizes only (cnn_net_plan_text); otherwise the parameters are then allocated once, at
 * their final sizes, and each layer initialised in order, as cnn_add would have done: growing
 * the buffers layer by layer copied and cleared VGG-16's 130 MB of weights again and again. */
static cnn_status text_net(const char *text, const char *source, uint64_t seed, int defer,
                           cnn_net **out, char *err, size_t errlen) {
    *out = NULL;
    cnn_net *net = cnn_net_new(seed);
    if (!net) {
        snprintf(err, errlen, "%s: out of memory", source);
        return CNN_STATUS_NO_MEMORY;
    }
    net->defer_params = 1;
    cnn_status st = build_from_text(net, text, source, err, errlen);
    if (!st && !defer) {
        if ((st = cnn_net_alloc_params(net)))
            snprintf(err, errlen, "%s: %s", source, cnn_net_last_error(net));
        else
            cnn_net_init_params(net, seed);
    }
    if (st) {
        cnn_net_free(net);
        return st;
    }
    *out = net;
    return CNN_STATUS_OK;
}

cnn_status cnn_net_from_text(const char *text, const char *source, uint64_t seed, cnn_net **out,
                             char *err, size_t errlen) {
    return text_net(text, source, seed, 0, out, err, errlen);
}

cnn_status cnn_net_plan_text(const char *text, const char *source, cnn_net **out, char *err,
                             size_t errlen) {
    return text_net(text, source, 0, 1, out, err, errlen);
}

/* Adds the layers of text to the empty network net. */
static cnn_status build_from_text(cnn_net *net, const char *text, const char *source,
                                  char *err, size_t errlen) {
    line_reader r = {.source = source, .err = err, .errlen = errlen};
    char line[4096];
    int statements = 0;
    cnn_status st = count_statements(&r, text, &statements);
    if (st) return st;
    if ((st = cnn_net_reserve_layers(net, statements))) {
        snprintf(err, errlen, "%s: %s", source, cnn_net_last_error(net));
        return st;
    }
    r.line = 0;
    const char *p = text;
    while (*p) {
        r.line++;
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        r.start = r.p = line;
        if (len >= sizeof line) {
            st = fail_at(&r, line, "line longer than %zu characters", sizeof line - 1);
            break;
        }
        memcpy(line, p, len);
        line[len] = 0;
        if (len && line[len - 1] == '\r') line[--len] = 0;
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        for (char *q = line; *q; q++)
            if ((unsigned char)*q < 32 && *q != '\t') {
                st = fail_at(&r, q, "control character 0x%02x", (unsigned char)*q);
                goto done;
            }
        const char *s = line;
        while (*s == ' ' || *s == '\t') s++;
        if (*s) {
            /* Trailing blanks are not arguments. */
            size_t l = strlen(line);
            while (l && (line[l - 1] == ' ' || line[l - 1] == '\t')) line[--l] = 0;
            if ((st = parse_line(net, &r, eol ? eol + 1 : ""))) break;
        }
        if (!eol) break;
        p = eol + 1;
    }
done:
    if (!st && cnn_net_layer_count(net) == 0) {
        snprintf(err, errlen, "%s: no layers defined", source);
        st = CNN_STATUS_INVALID_ARGUMENT;
    }
    if (!st && cnn_net_input_count(net) == 0) {
        snprintf(err, errlen, "%s: no input layer ('x = input shape=CxHxW')", source);
        st = CNN_STATUS_INVALID_ARGUMENT;
    }
    return st;
}

cnn_status cnn_net_load_text(const char *path, uint64_t seed, cnn_net **out, char *err,
                             size_t errlen) {
    *out = NULL;
    FILE *f;
    cnn_status open_st = cnn_open_regular(path, "a network definition", &f, NULL, err, errlen);
    if (open_st) return open_st;
    size_t cap = 1 << 16, len = 0;
    char *text = cnn_alloc(cap);
    cnn_status st = CNN_STATUS_OK;
    while (text) {
        size_t got = fread(text + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) break;
        if (len + 1 == cap) {
            if (cap >= (1u << 26)) {
                snprintf(err, errlen, "%s: larger than 64 MiB: not a network definition", path);
                st = CNN_STATUS_FORMAT;
                break;
            }
            char *t = cnn_realloc(text, cap *= 2);
            if (!t) {
                free(text);
                text = NULL;
            } else {
                text = t;
            }
        }
    }
    if (!text) {
        fclose(f);
        snprintf(err, errlen, "%s: out of memory", path);
        return CNN_STATUS_NO_MEMORY;
    }
    if (!st && ferror(f)) {
        snprintf(err, errlen, "%s: read error: %s", path, strerror(errno));
        st = CNN_STATUS_IO;
    }
    fclose(f);
    text[len] = 0;
    if (!st && memchr(text, 0, len)) {
        snprintf(err, errlen, "%s: holds a NUL byte: not a text file", path);
        st = CNN_STATUS_FORMAT;
    }
    if (!st) st = cnn_net_from_text(text, path, seed, out, err, errlen);
    free(text);
    return st;
}

/* Appends to a growing string; returns 0 when memory runs out. */
typedef struct strbuf {
    char *s;
    size_t len, cap;
} strbuf;

static int sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int sb_printf(strbuf *b, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) return 0;
        if (b->s && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return 1;
        }
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + (size_t)n + 1) cap *= 2;
        char *s = cnn_realloc(b->s, cap);
        if (!s) return 0;
        b->s = s;
        b->cap = cap;
    }
}

char *cnn_net_to_text(const cnn_net *net) {
    strbuf b = {0};
    if (!sb_printf(&b, "# %d layers, %zu parameters\n", net->n_nodes, net->n_params)) goto oom;
    for (int i = 0; i < net->n_nodes; i++) {
        const cnn_node *n = net->nodes[i];
        char args[1024];
        cnn_fields_print(n->type->fields, n->params, args, sizeof args, 1);
        if (!sb_printf(&b, "%s = %s", n->name, n->type->name)) goto oom;
        /* The inputs are implicit when the layer takes just the one above it. */
        int implicit = n->n_in == 1 && n->in[0]->index == i - 1;
        if (n->n_in && !implicit) {
            for (int k = 0; k < n->n_in; k++)
                if (!sb_printf(&b, "%s%s", k ? ", " : "(", n->in[k]->name)) goto oom;
            if (!sb_printf(&b, ")")) goto oom;
        }
        if (args[0] && !sb_printf(&b, " %s", args)) goto oom;
        if (!sb_printf(&b, "\n")) goto oom;
    }
    return b.s;
oom:
    free(b.s);
    return NULL;
}
