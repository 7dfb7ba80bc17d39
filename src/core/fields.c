/*
 * fields.c - parsing and printing layer hyper-parameters from their descriptor tables.
 *
 * Arguments are words "key=value" separated by blanks. Every key must be known, given at most
 * once, and have a well-formed value; keys without a default are required. Errors say which
 * word is wrong, why, and where (its column), so the text-format reader can point at it.
 */
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#define MAX_FIELDS 32

static int parse_int(const char *s, size_t len, int *out) {
    char buf[32];
    if (len == 0 || len >= sizeof buf) return 0;
    memcpy(buf, s, len);
    buf[len] = 0;
    char *end;
    errno = 0;
    long v = strtol(buf, &end, 10);
    if (*end || errno || v < INT_MIN || v > INT_MAX || !(isdigit((unsigned char)buf[0]) || buf[0] == '-'))
        return 0;
    *out = (int)v;
    return 1;
}

/* "3" -> {3, 3}; "3x2" -> {3, 2}. */
static int parse_int2(const char *s, size_t len, int out[2]) {
    const char *x = memchr(s, 'x', len);
    if (!x) {
        if (!parse_int(s, len, &out[0])) return 0;
        out[1] = out[0];
        return 1;
    }
    return parse_int(s, (size_t)(x - s), &out[0]) &&
           parse_int(x + 1, len - (size_t)(x - s) - 1, &out[1]);
}

/* One axis of a padding: "3" -> {3, 3}; "1:2" -> {1, 2} (before:after). */
static int parse_pad_axis(const char *s, size_t len, int out[2]) {
    const char *c = memchr(s, ':', len);
    if (!c) {
        if (!parse_int(s, len, &out[0])) return 0;
        out[1] = out[0];
    } else if (!parse_int(s, (size_t)(c - s), &out[0]) ||
               !parse_int(c + 1, len - (size_t)(c - s) - 1, &out[1])) {
        return 0;
    }
    return out[0] >= 0 && out[1] >= 0;
}

/* An explicit padding: one axis for both ("1", "1:2") or rows x columns ("1x2", "1:2x0:1"). */
static int parse_pad(const char *s, size_t len, cnn_pad *pad) {
    const char *x = memchr(s, 'x', len);
    int h[2], w[2];
    if (!x) {
        if (!parse_pad_axis(s, len, h)) return 0;
        w[0] = h[0];
        w[1] = h[1];
    } else if (!parse_pad_axis(s, (size_t)(x - s), h) ||
               !parse_pad_axis(x + 1, len - (size_t)(x - s) - 1, w)) {
        return 0;
    }
    pad->mode = CNN_PAD_EXPLICIT;
    pad->top = h[0];
    pad->bottom = h[1];
    pad->left = w[0];
    pad->right = w[1];
    return 1;
}

static int parse_shape(const char *s, size_t len, cnn_shape *out) {
    cnn_shape sh = {0};
    const char *p = s, *end = s + len;
    while (p <= end) {
        const char *x = memchr(p, 'x', (size_t)(end - p));
        const char *stop = x ? x : end;
        if (sh.rank == CNN_MAX_RANK) return 0;
        if (!parse_int(p, (size_t)(stop - p), &sh.dim[sh.rank]) || sh.dim[sh.rank] <= 0) return 0;
        sh.rank++;
        if (!x) break;
        p = x + 1;
    }
    *out = sh;
    return sh.rank > 0;
}

static int word_is(const char *s, size_t len, const char *w) {
    return strlen(w) == len && memcmp(s, w, len) == 0;
}

/* Parses one value; returns 0 and sets why on failure. */
static int parse_value(const cnn_field *f, void *p, const char *v, size_t len, const char **why) {
    char *dst = (char *)p + f->offset;
    switch (f->kind) {
    case CNN_FIELD_INT:
        *why = "an integer";
        return parse_int(v, len, (int *)dst);
    case CNN_FIELD_INT2:
        *why = "an integer or HxW, like 3 or 3x2";
        return parse_int2(v, len, (int *)dst);
    case CNN_FIELD_FLOAT: {
        *why = "a finite number";
        char buf[64];
        if (len == 0 || len >= sizeof buf) return 0;
        memcpy(buf, v, len);
        buf[len] = 0;
        char *end;
        errno = 0;
        float x = strtof(buf, &end);
        if (*end || errno || !isfinite(x)) return 0;
        *(float *)dst = x;
        return 1;
    }
    case CNN_FIELD_BOOL:
        *why = "a boolean (0, 1, true or false)";
        if (word_is(v, len, "1") || word_is(v, len, "true")) *(int *)dst = 1;
        else if (word_is(v, len, "0") || word_is(v, len, "false")) *(int *)dst = 0;
        else return 0;
        return 1;
    case CNN_FIELD_ENUM:
        *why = "one of the listed choices";
        for (int i = 0; f->choices[i]; i++)
            if (word_is(v, len, f->choices[i])) {
                *(int *)dst = i;
                return 1;
            }
        return 0;
    case CNN_FIELD_PAD: {
        *why = "valid, same, causal, P, PHxPW or before:after per axis, like 1:2x0:1 (top 1, "
               "bottom 2, left 0, right 1)";
        cnn_pad *pad = (cnn_pad *)dst;
        *pad = (cnn_pad){0};
        if (word_is(v, len, "valid")) pad->mode = CNN_PAD_VALID;
        else if (word_is(v, len, "same")) pad->mode = CNN_PAD_SAME;
        else if (word_is(v, len, "causal")) pad->mode = CNN_PAD_CAUSAL;
        else return parse_pad(v, len, pad);
        return 1;
    }
    case CNN_FIELD_SHAPE:
        *why = "a shape of 1 to 3 positive sizes, like 3x32x32";
        return parse_shape(v, len, (cnn_shape *)dst);
    }
    return 0;
}

static void choices_str(const cnn_field *f, char *buf, size_t size) {
    size_t off = 0;
    buf[0] = 0;
    for (int i = 0; f->choices[i] && off < size; i++) {
        int k = snprintf(buf + off, size - off, "%s%s", i ? ", " : "", f->choices[i]);
        if (k < 0) break;
        off += (size_t)k;
    }
}

static void keys_str(const cnn_field *fields, char *buf, size_t size) {
    size_t off = 0;
    buf[0] = 0;
    for (int i = 0; fields[i].key && off < size; i++) {
        int k = snprintf(buf + off, size - off, "%s%s", i ? ", " : "", fields[i].key);
        if (k < 0) break;
        off += (size_t)k;
    }
}

cnn_status cnn_fields_parse(const cnn_field *fields, void *p, const char *args, char *err,
                            size_t errlen, int *col) {
    int given[MAX_FIELDS] = {0};
    const char *why;
    int nf = 0;
    *col = 0;
    for (; fields[nf].key; nf++) {
        CNN_ASSERT(nf < MAX_FIELDS);
        const cnn_field *f = &fields[nf];
        if (f->def && !parse_value(f, p, f->def, strlen(f->def), &why)) CNN_ASSERT(!"bad default");
    }
    const char *s = args ? args : "";
    while (*s) {
        while (*s == ' ' || *s == '\t') s++;
        if (!*s) break;
        const char *w = s;
        while (*s && *s != ' ' && *s != '\t') s++;
        size_t wlen = (size_t)(s - w);
        *col = (int)(w - args);
        const char *eq = memchr(w, '=', wlen);
        if (!eq) {
            snprintf(err, errlen, "expected key=value, found '%.*s'", (int)wlen, w);
            return CNN_STATUS_INVALID_ARGUMENT;
        }
        size_t klen = (size_t)(eq - w);
        int i = 0;
        while (fields[i].key && !word_is(w, klen, fields[i].key)) i++;
        if (!fields[i].key) {
            char keys[512];
            keys_str(fields, keys, sizeof keys);
            snprintf(err, errlen, "unknown key '%.*s' (known keys: %s)", (int)klen, w,
                     keys[0] ? keys : "none");
            return CNN_STATUS_INVALID_ARGUMENT;
        }
        if (given[i]) {
            snprintf(err, errlen, "key '%s' given twice", fields[i].key);
            return CNN_STATUS_INVALID_ARGUMENT;
        }
        given[i] = 1;
        const char *v = eq + 1;
        size_t vlen = wlen - klen - 1;
        if (!parse_value(&fields[i], p, v, vlen, &why)) {
            *col = (int)(v - args);
            if (fields[i].kind == CNN_FIELD_ENUM) {
                char ch[512];
                choices_str(&fields[i], ch, sizeof ch);
                snprintf(err, errlen, "bad value '%.*s' for '%s': expected one of %s", (int)vlen,
                         v, fields[i].key, ch);
            } else {
                snprintf(err, errlen, "bad value '%.*s' for '%s': expected %s", (int)vlen, v,
                         fields[i].key, why);
            }
            return CNN_STATUS_INVALID_ARGUMENT;
        }
    }
    for (int i = 0; i < nf; i++)
        if (!fields[i].def && !given[i]) {
            *col = (int)strlen(args ? args : "");
            snprintf(err, errlen, "missing required key '%s' (%s)", fields[i].key, fields[i].doc);
            return CNN_STATUS_INVALID_ARGUMENT;
        }
    return CNN_STATUS_OK;
}

static int value_str(const cnn_field *f, const void *p, char *buf, size_t size) {
    const char *src = (const char *)p + f->offset;
    switch (f->kind) {
    case CNN_FIELD_INT:
    case CNN_FIELD_BOOL: return snprintf(buf, size, "%d", *(const int *)src);
    case CNN_FIELD_INT2: {
        const int *v = (const int *)src;
        return v[0] == v[1] ? snprintf(buf, size, "%d", v[0])
                            : snprintf(buf, size, "%dx%d", v[0], v[1]);
    }
    case CNN_FIELD_FLOAT: return snprintf(buf, size, "%.9g", (double)*(const float *)src);
    case CNN_FIELD_ENUM: return snprintf(buf, size, "%s", f->choices[*(const int *)src]);
    case CNN_FIELD_PAD: {
        const cnn_pad *pad = (const cnn_pad *)src;
        static const char *const modes[] = {"", "valid", "same", "causal"};
        if (pad->mode != CNN_PAD_EXPLICIT) return snprintf(buf, size, "%s", modes[pad->mode]);
        /* Each axis "P" when symmetric, else "B:A"; one axis when both read the same, so
         * that every symmetric padding prints as it always has ("1", "1x2"). */
        char h[32], w[32];
        if (pad->top == pad->bottom) snprintf(h, sizeof h, "%d", pad->top);
        else snprintf(h, sizeof h, "%d:%d", pad->top, pad->bottom);
        if (pad->left == pad->right) snprintf(w, sizeof w, "%d", pad->left);
        else snprintf(w, sizeof w, "%d:%d", pad->left, pad->right);
        return strcmp(h, w) == 0 ? snprintf(buf, size, "%s", h)
                                 : snprintf(buf, size, "%sx%s", h, w);
    }
    case CNN_FIELD_SHAPE: {
        char tmp[64];
        return snprintf(buf, size, "%s", cnn_shape_str((const cnn_shape *)src, tmp, sizeof tmp));
    }
    }
    return 0;
}

int cnn_fields_print(const cnn_field *fields, const void *p, char *buf, size_t size,
                     int skip_defaults) {
    char val[128], def[128];
    int total = 0;
    for (int i = 0; fields[i].key; i++) {
        const cnn_field *f = &fields[i];
        value_str(f, p, val, sizeof val);
        if (skip_defaults && f->def) {
            /* The default's canonical text, from a scratch copy of the struct. */
            _Alignas(max_align_t) char tmp[256];
            const char *why;
            CNN_ASSERT(f->offset + sizeof(cnn_shape) <= sizeof tmp &&
                       f->offset + sizeof(cnn_pad) <= sizeof tmp);
            parse_value(f, tmp, f->def, strlen(f->def), &why);
            value_str(f, tmp, def, sizeof def);
            if (strcmp(val, def) == 0) continue;
        }
        size_t off = (size_t)total < size ? (size_t)total : size;
        total += snprintf(buf + off, size - off, "%s%s=%s", total ? " " : "", f->key, val);
    }
    if (size && total == 0) buf[0] = 0;
    return total;
}

int cnn_fields_doc(const cnn_field *fields, char *buf, size_t size) {
    int total = 0;
    char ch[512];
    for (int i = 0; fields[i].key; i++) {
        const cnn_field *f = &fields[i];
        size_t off = (size_t)total < size ? (size_t)total : size;
        if (f->kind == CNN_FIELD_ENUM) choices_str(f, ch, sizeof ch);
        total += snprintf(buf + off, size - off, "  %-12s %s%s%s%s [%s%s]\n", f->key, f->doc,
                          f->kind == CNN_FIELD_ENUM ? " (" : "",
                          f->kind == CNN_FIELD_ENUM ? ch : "",
                          f->kind == CNN_FIELD_ENUM ? ")" : "", f->def ? "default " : "required",
                          f->def ? f->def : "");
    }
    if (size && total == 0) buf[0] = 0;
    return total;
}
