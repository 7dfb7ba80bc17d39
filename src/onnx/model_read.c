/*
 * model_read.c - an ONNX file's bytes to an onnx_model (model.h).
 *
 * Each message is read in two passes over its bytes: the first counts the entries of its
 * repeated fields, the second fills arrays of exactly that size. A count can never exceed the
 * bytes that hold it, and a tensor's element count must match the bytes of its data before its
 * array is allocated, so a small file cannot make the reader allocate much.
 */
#define _XOPEN_SOURCE 700 /* realpath */

#include "model.h"

#include "pb.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---------------------------------------------------------------------------------------------
 * The model's memory
 * ------------------------------------------------------------------------------------------- */

struct onnx_block {
    struct onnx_block *next;
    _Alignas(16) unsigned char data[];
};

void *onnx_alloc(onnx_model *m, size_t count, size_t size) {
    if (size && count > (SIZE_MAX - sizeof(struct onnx_block)) / size) return NULL;
    struct onnx_block *b = cnn_calloc(1, sizeof *b + count * size);
    if (!b) return NULL;
    b->next = m->blocks;
    m->blocks = b;
    return b->data;
}

char *onnx_strdup(onnx_model *m, const char *s) {
    size_t n = strlen(s) + 1;
    char *c = onnx_alloc(m, n, 1);
    if (c) memcpy(c, s, n);
    return c;
}

void onnx_model_free(onnx_model *m) {
    for (struct onnx_block *b = m->blocks, *next; b; b = next) {
        next = b->next;
        cnn_free(b);
    }
    memset(m, 0, sizeof *m);
}

const onnx_attr *onnx_attr_find(const onnx_node *n, const char *name) {
    for (int i = 0; i < n->n_attrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0) return &n->attrs[i];
    return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------------------------- */

typedef struct reader {
    onnx_model *m;
    const char *dir, *source;
    char *err;
    size_t errlen;
    cnn_status status; /* the first error's; later ones are not reported */
} reader;

__attribute__((format(printf, 3, 4))) static int fail_as(reader *r, cnn_status status,
                                                          const char *fmt, ...) {
    if (r->status == CNN_STATUS_OK) {
        r->status = status;
        if (r->err && r->errlen) {
            int k = snprintf(r->err, r->errlen, "%s: ", r->source);
            if (k >= 0 && (size_t)k < r->errlen) {
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(r->err + k, r->errlen - (size_t)k, fmt, ap);
                va_end(ap);
            }
        }
    }
    return -1;
}
#define fail(r, ...) fail_as(r, CNN_STATUS_FORMAT, __VA_ARGS__)
#define no_memory(r) fail_as(r, CNN_STATUS_NO_MEMORY, "out of memory")

/* The next field of a message in `what`; 1, 0 at its end, -1 (reported) when malformed. */
static int next(reader *r, pb_in *in, pb_field *f, const char *what) {
    const char *why = "";
    int k = pb_next(in, f, &why);
    if (k < 0) fail(r, "malformed protobuf in %s: %s", what, why);
    return k;
}

static int expect_wire(reader *r, const pb_field *f, int wire, const char *what) {
    if (f->wire == wire) return 0;
    return fail(r, "field %u of %s has wire type %d, not %d", f->number, what, f->wire, wire);
}

/* A string field's copy, NUL-terminated; NULL (reported) on error. */
static const char *string(reader *r, const pb_field *f, const char *what) {
    if (expect_wire(r, f, PB_BYTES, what)) return NULL;
    if (memchr(f->data, 0, f->len)) {
        fail(r, "a string of %s holds a NUL byte", what);
        return NULL;
    }
    char *s = onnx_alloc(r->m, f->len + 1, 1);
    if (!s) {
        no_memory(r);
        return NULL;
    }
    memcpy(s, f->data, f->len);
    return s;
}

/* ---------------------------------------------------------------------------------------------
 * Repeated numbers, packed (one length-delimited run) or not (one field each)
 * ------------------------------------------------------------------------------------------- */

/* How many numbers a field holds: ints as varints, or fixed-size values of `width` bytes. */
static int count_numbers(reader *r, const pb_field *f, int width, size_t *n, const char *what) {
    if (f->wire == PB_BYTES) {
        if (width) {
            if (f->len % (size_t)width) return fail(r, "a packed run of %s is cut short", what);
            *n += f->len / (size_t)width;
        } else {
            for (size_t i = 0; i < f->len; i++) *n += !(f->data[i] & 0x80);
        }
        return 0;
    }
    int wire = width == 0 ? PB_VARINT : width == 4 ? PB_FIXED32 : PB_FIXED64;
    if (expect_wire(r, f, wire, what)) return -1;
    *n += 1;
    return 0;
}

/* Appends the field's varints to v (room counted by count_numbers). */
static int read_varints(reader *r, const pb_field *f, int64_t *v, size_t *k, const char *what) {
    if (f->wire == PB_VARINT) {
        v[(*k)++] = (int64_t)f->value;
        return 0;
    }
    pb_in run = pb_view(f->data, f->len);
    uint64_t x;
    int got;
    while ((got = pb_read_varint(&run, &x)) > 0) v[(*k)++] = (int64_t)x;
    return got < 0 ? fail(r, "a packed run of %s ends inside a varint", what) : 0;
}

static uint64_t le_bits(const uint8_t *p, int width) {
    uint64_t x = 0;
    for (int i = 0; i < width; i++) x |= (uint64_t)p[i] << (8 * i);
    return x;
}

static float bits_to_float(uint64_t bits, int width) {
    if (width == 4) {
        uint32_t b = (uint32_t)bits;
        float x;
        memcpy(&x, &b, sizeof x);
        return x;
    }
    double d;
    memcpy(&d, &bits, sizeof d);
    return (float)d;
}

/* Appends the field's fixed-size floats (4 bytes) or doubles (8) to v, as floats. */
static void read_floats(const pb_field *f, int width, float *v, size_t *k) {
    if (f->wire != PB_BYTES) {
        v[(*k)++] = bits_to_float(f->value, width);
        return;
    }
    for (size_t i = 0; i + (size_t)width <= f->len; i += (size_t)width)
        v[(*k)++] = bits_to_float(le_bits(f->data + i, width), width);
}

/* ---------------------------------------------------------------------------------------------
 * Tensors
 * ------------------------------------------------------------------------------------------- */

static const char *type_name(int t) {
    static const char *const names[] = {"UNDEFINED", "FLOAT",  "UINT8",     "INT8",   "UINT16",
                                        "INT16",     "INT32",  "INT64",     "STRING", "BOOL",
                                        "FLOAT16",   "DOUBLE", "UINT32",    "UINT64", "COMPLEX64",
                                        "COMPLEX128", "BFLOAT16"};
    return t >= 0 && t < (int)(sizeof names / sizeof names[0]) ? names[t] : "unknown";
}

/* Bytes of one element in raw_data, 0 for a type cnn does not read. */
static int elem_size(int t) {
    switch (t) {
    case ONNX_FLOAT:
    case ONNX_INT32: return 4;
    case ONNX_DOUBLE:
    case ONNX_INT64: return 8;
    case ONNX_UINT8:
    case ONNX_INT8:
    case ONNX_BOOL: return 1;
    default: return 0;
    }
}

static int is_float_type(int t) { return t == ONNX_FLOAT || t == ONNX_DOUBLE; }

/* Converts n raw little-endian elements into the tensor's array. */
static void convert_raw(onnx_tensor *t, const uint8_t *p, size_t n) {
    int w = elem_size(t->data_type);
    for (size_t k = 0; k < n; k++, p += w) {
        uint64_t bits = le_bits(p, w);
        if (is_float_type(t->data_type))
            t->f[k] = bits_to_float(bits, w);
        else if (t->data_type == ONNX_INT32)
            t->i[k] = (int32_t)(uint32_t)bits;
        else if (t->data_type == ONNX_INT8)
            t->i[k] = (int8_t)(uint8_t)bits;
        else
            t->i[k] = (int64_t)bits;
    }
}

/* The data of a tensor stored outside the model (external_data: location, offset, length),
 * read from the model's folder only. raw gets a buffer of `need` bytes (cnn_free it). */
static int read_external(reader *r, const onnx_tensor *t, const char *location, int64_t offset,
                         int64_t length, size_t need, uint8_t **raw) {
    if (!r->dir)
        return fail(r, "tensor '%s' is stored in an external file, which is only read for a "
                       "model loaded from a file", t->name);
    if (!location || !*location) return fail(r, "tensor '%s': external data without a location", t->name);
    if (location[0] == '/' || strstr(location, "..") || strchr(location, '\\'))
        return fail(r, "tensor '%s': external data location '%s' leaves the model's folder "
                       "(only plain names inside it are read)", t->name, location);
    if (offset < 0 || (length >= 0 && (uint64_t)length != need))
        return fail(r, "tensor '%s': external data offset %lld, length %lld do not hold its %zu "
                       "bytes", t->name, (long long)offset, (long long)length, need);
    char path[PATH_MAX], real_dir[PATH_MAX], real_path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", r->dir, location) >= (int)sizeof path)
        return fail(r, "tensor '%s': external data path too long", t->name);
    /* A symbolic link inside the folder must not lead out of it either. */
    if (!realpath(r->dir, real_dir) || !realpath(path, real_path))
        return fail_as(r, CNN_STATUS_IO, "tensor '%s': cannot open external data %s: %s",
                       t->name, path, strerror(errno));
    size_t dl = strlen(real_dir);
    if (strncmp(real_path, real_dir, dl) != 0 || real_path[dl] != '/')
        return fail(r, "tensor '%s': external data '%s' resolves outside the model's folder",
                    t->name, location);
    FILE *f = fopen(real_path, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        if (f) fclose(f);
        return fail_as(r, CNN_STATUS_IO, "tensor '%s': cannot read external data %s", t->name,
                       path);
    }
    if ((uint64_t)st.st_size < (uint64_t)offset || (uint64_t)st.st_size - (uint64_t)offset < need) {
        fclose(f);
        return fail(r, "tensor '%s': external data %s holds %lld bytes, %zu are needed from "
                       "offset %lld", t->name, path, (long long)st.st_size, need,
                    (long long)offset);
    }
    *raw = cnn_alloc(need ? need : 1);
    if (!*raw) {
        fclose(f);
        return no_memory(r);
    }
    int ok = fseeko(f, (off_t)offset, SEEK_SET) == 0 && fread(*raw, 1, need, f) == need;
    fclose(f);
    if (!ok) {
        cnn_free(*raw);
        *raw = NULL;
        return fail_as(r, CNN_STATUS_IO, "tensor '%s': reading external data %s failed", t->name,
                       path);
    }
    return 0;
}

/* The element count of dims; -1 (reported) when a dim is negative or the product is absurd. */
static int element_count(reader *r, onnx_tensor *t) {
    size_t n = 1;
    for (int d = 0; d < t->rank; d++) {
        if (t->dims[d] < 0) return fail(r, "tensor '%s' has a negative dimension", t->name);
        if (t->dims[d] && n > ((size_t)1 << 40) / (size_t)t->dims[d])
            return fail(r, "tensor '%s' has more than 2^40 elements", t->name);
        n *= (size_t)t->dims[d];
    }
    t->count = n;
    return 0;
}

static int read_tensor(reader *r, pb_in in, onnx_tensor *t) {
    const char *what = "a tensor";
    pb_field f;
    int k;
    size_t n_dims = 0, n_float = 0, n_double = 0, n_int = 0;
    const pb_field *raw = NULL;
    pb_field raw_field;
    int external = 0;
    const char *location = NULL;
    int64_t offset = 0, length = -1;
    t->name = "";
    pb_in first = in;
    while ((k = next(r, &in, &f, what)) > 0) {
        switch (f.number) {
        case 1: if (count_numbers(r, &f, 0, &n_dims, what)) return -1; break;
        case 2: if (expect_wire(r, &f, PB_VARINT, what)) return -1; t->data_type = (int)f.value; break;
        case 3: return fail(r, "tensor segments are not supported");
        case 4: if (count_numbers(r, &f, 4, &n_float, what)) return -1; break;
        case 5:
        case 7: if (count_numbers(r, &f, 0, &n_int, what)) return -1; break;
        case 8: if (!(t->name = string(r, &f, what))) return -1; break;
        case 9: if (expect_wire(r, &f, PB_BYTES, what)) return -1; raw_field = f; raw = &raw_field; break;
        case 10: if (count_numbers(r, &f, 8, &n_double, what)) return -1; break;
        case 14: external = f.value == 1; break;
        default: break;
        }
    }
    if (k < 0) return -1;
    if (n_dims > ONNX_MAX_RANK) return fail(r, "tensor '%s' has rank %zu (at most %d)", t->name, n_dims, ONNX_MAX_RANK);
    /* Second pass: dims and external data entries. */
    int64_t dims[ONNX_MAX_RANK];
    size_t nd = 0;
    in = first;
    while ((k = next(r, &in, &f, what)) > 0) {
        if (f.number == 1 && read_varints(r, &f, dims, &nd, what)) return -1;
        if (f.number == 13) {
            if (expect_wire(r, &f, PB_BYTES, what)) return -1;
            const char *key = NULL, *value = NULL;
            pb_in e = pb_view(f.data, f.len);
            pb_field g;
            while ((k = next(r, &e, &g, "external_data")) > 0) {
                if (g.number == 1 && !(key = string(r, &g, "external_data"))) return -1;
                if (g.number == 2 && !(value = string(r, &g, "external_data"))) return -1;
            }
            if (k < 0 || !key || !value) return k < 0 ? -1 : fail(r, "tensor '%s': an external_data entry without key or value", t->name);
            char *end;
            if (strcmp(key, "location") == 0)
                location = value;
            else if (strcmp(key, "offset") == 0 || strcmp(key, "length") == 0) {
                errno = 0;
                long long v = strtoll(value, &end, 10);
                if (*end || errno || v < 0)
                    return fail(r, "tensor '%s': external data %s '%s' is not a size", t->name, key, value);
                *(strcmp(key, "offset") == 0 ? &offset : &length) = v;
            }
        }
    }
    if (k < 0) return -1;
    t->rank = (int)nd;
    memcpy(t->dims, dims, nd * sizeof *dims);
    if (element_count(r, t)) return -1;

    int w = elem_size(t->data_type);
    if (!w)
        return fail(r, "tensor '%s' has data type %s (%d), which cnn does not read", t->name,
                    type_name(t->data_type), t->data_type);
    size_t given = raw ? raw->len / (size_t)w : external ? t->count : n_float + n_double + n_int;
    if (raw && raw->len % (size_t)w)
        return fail(r, "tensor '%s': raw_data of %zu bytes is not a whole number of %s", t->name,
                    raw->len, type_name(t->data_type));
    if (given != t->count)
        return fail(r, "tensor '%s' of %zu elements holds %zu values", t->name, t->count, given);
    if (!raw && !external &&
        (is_float_type(t->data_type) ? n_int != 0 : n_float + n_double != 0))
        return fail(r, "tensor '%s' of type %s stores its values in the wrong field", t->name,
                    type_name(t->data_type));
    if (is_float_type(t->data_type))
        t->f = onnx_alloc(r->m, t->count, sizeof *t->f);
    else
        t->i = onnx_alloc(r->m, t->count, sizeof *t->i);
    if (!t->f && !t->i) return no_memory(r);
    if (raw) {
        convert_raw(t, raw->data, t->count);
        return 0;
    }
    if (external) {
        uint8_t *bytes = NULL;
        if (read_external(r, t, location, offset, length, t->count * (size_t)w, &bytes)) return -1;
        convert_raw(t, bytes, t->count);
        cnn_free(bytes);
        return 0;
    }
    size_t got = 0;
    in = first;
    while ((k = next(r, &in, &f, what)) > 0) {
        if (f.number == 4) read_floats(&f, 4, t->f, &got);
        if (f.number == 10) read_floats(&f, 8, t->f, &got);
        if ((f.number == 5 || f.number == 7) && read_varints(r, &f, t->i, &got, what)) return -1;
    }
    if (k < 0) return -1;
    if (!is_float_type(t->data_type) && t->data_type != ONNX_INT64)
        for (size_t j = 0; j < got; j++) t->i[j] = (int32_t)t->i[j]; /* int32_data holds them */
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Attributes, nodes, value infos
 * ------------------------------------------------------------------------------------------- */

static int read_attr(reader *r, pb_in in, onnx_attr *a) {
    const char *what = "an attribute";
    pb_field f;
    int k;
    size_t nf = 0, ni = 0;
    pb_in first = in;
    a->name = "";
    while ((k = next(r, &in, &f, what)) > 0) {
        switch (f.number) {
        case 1: if (!(a->name = string(r, &f, what))) return -1; break;
        case 20: if (expect_wire(r, &f, PB_VARINT, what)) return -1; a->type = (int)f.value; break;
        case 2: if (expect_wire(r, &f, PB_FIXED32, what)) return -1; a->f = pb_float(&f); break;
        case 3: if (expect_wire(r, &f, PB_VARINT, what)) return -1; a->i = (int64_t)f.value; break;
        case 4: if (!(a->s = string(r, &f, what))) return -1; break;
        case 5:
            if (expect_wire(r, &f, PB_BYTES, what)) return -1;
            if (!(a->t = onnx_alloc(r->m, 1, sizeof *a->t))) return no_memory(r);
            if (read_tensor(r, pb_view(f.data, f.len), a->t)) return -1;
            break;
        case 7: if (count_numbers(r, &f, 4, &nf, what)) return -1; break;
        case 8: if (count_numbers(r, &f, 0, &ni, what)) return -1; break;
        default: break;
        }
    }
    if (k < 0) return -1;
    if (nf && ni) return fail(r, "attribute '%s' has both floats and ints", a->name);
    if (nf && !(a->floats = onnx_alloc(r->m, nf, sizeof *a->floats))) return no_memory(r);
    if (ni && !(a->ints = onnx_alloc(r->m, ni, sizeof *a->ints))) return no_memory(r);
    a->n = nf + ni;
    size_t got = 0;
    in = first;
    while ((k = next(r, &in, &f, what)) > 0) {
        if (f.number == 7) read_floats(&f, 4, a->floats, &got);
        if (f.number == 8 && read_varints(r, &f, a->ints, &got, what)) return -1;
    }
    return k < 0 ? -1 : 0;
}

/* Counts the fields numbered `number` of a message (already checked whole). */
static int count_fields(pb_in in, uint32_t number) {
    pb_field f;
    const char *why;
    int n = 0;
    while (pb_next(&in, &f, &why) > 0) n += f.number == number;
    return n;
}

static int read_node(reader *r, pb_in in, onnx_node *n) {
    const char *what = "a node";
    pb_field f;
    int k;
    pb_in first = in;
    while ((k = next(r, &in, &f, what)) > 0) {}
    if (k < 0) return -1;
    n->n_inputs = count_fields(first, 1);
    n->n_outputs = count_fields(first, 2);
    n->n_attrs = count_fields(first, 5);
    n->inputs = onnx_alloc(r->m, (size_t)n->n_inputs + 1, sizeof *n->inputs);
    n->outputs = onnx_alloc(r->m, (size_t)n->n_outputs + 1, sizeof *n->outputs);
    n->attrs = onnx_alloc(r->m, (size_t)n->n_attrs + 1, sizeof *n->attrs);
    if (!n->inputs || !n->outputs || !n->attrs) return no_memory(r);
    n->name = n->op_type = n->domain = "";
    int ii = 0, io = 0, ia = 0;
    in = first;
    while ((k = next(r, &in, &f, what)) > 0) {
        switch (f.number) {
        case 1: if (!(n->inputs[ii++] = string(r, &f, what))) return -1; break;
        case 2: if (!(n->outputs[io++] = string(r, &f, what))) return -1; break;
        case 3: if (!(n->name = string(r, &f, what))) return -1; break;
        case 4: if (!(n->op_type = string(r, &f, what))) return -1; break;
        case 7: if (!(n->domain = string(r, &f, what))) return -1; break;
        case 5:
            if (expect_wire(r, &f, PB_BYTES, what)) return -1;
            if (read_attr(r, pb_view(f.data, f.len), &n->attrs[ia++])) return -1;
            break;
        default: break;
        }
    }
    return k < 0 ? -1 : 0;
}

/* TypeProto.tensor_type: elem_type and shape. */
static int read_type(reader *r, pb_in in, onnx_value *v) {
    pb_field f, g, h, d;
    int k;
    while ((k = next(r, &in, &f, "a type")) > 0) {
        if (f.number != 1) continue; /* not a tensor: no shape known */
        if (expect_wire(r, &f, PB_BYTES, "a type")) return -1;
        pb_in t = pb_view(f.data, f.len);
        while ((k = next(r, &t, &g, "a tensor type")) > 0) {
            if (g.number == 1) v->elem_type = (int)g.value;
            if (g.number != 2) continue;
            if (expect_wire(r, &g, PB_BYTES, "a shape")) return -1;
            v->rank = 0;
            pb_in s = pb_view(g.data, g.len);
            while ((k = next(r, &s, &h, "a shape")) > 0) {
                if (h.number != 1) continue;
                if (expect_wire(r, &h, PB_BYTES, "a dimension")) return -1;
                if (v->rank == ONNX_MAX_RANK)
                    return fail(r, "value '%s' has more than %d dimensions", v->name, ONNX_MAX_RANK);
                int64_t dim = -1;
                pb_in di = pb_view(h.data, h.len);
                while ((k = next(r, &di, &d, "a dimension")) > 0)
                    if (d.number == 1 && d.wire == PB_VARINT) dim = (int64_t)d.value;
                if (k < 0) return -1;
                v->dims[v->rank++] = dim < 0 ? -1 : dim;
            }
            if (k < 0) return -1;
        }
        if (k < 0) return -1;
    }
    return k < 0 ? -1 : 0;
}

static int read_value(reader *r, pb_in in, onnx_value *v) {
    pb_field f;
    int k;
    v->name = "";
    v->rank = -1;
    while ((k = next(r, &in, &f, "a graph input or output")) > 0) {
        if (f.number == 1 && !(v->name = string(r, &f, "a value"))) return -1;
        if (f.number == 2 && read_type(r, pb_view(f.data, f.len), v)) return -1;
    }
    return k < 0 ? -1 : 0;
}

/* ---------------------------------------------------------------------------------------------
 * Graph and model
 * ------------------------------------------------------------------------------------------- */

static int read_graph(reader *r, pb_in in) {
    onnx_model *m = r->m;
    pb_field f;
    int k;
    pb_in first = in;
    while ((k = next(r, &in, &f, "the graph")) > 0)
        if ((f.number == 1 || f.number == 5 || f.number == 11 || f.number == 12) &&
            expect_wire(r, &f, PB_BYTES, "the graph"))
            return -1;
    if (k < 0) return -1;
    m->n_nodes = count_fields(first, 1);
    m->n_inits = count_fields(first, 5);
    m->n_inputs = count_fields(first, 11);
    m->n_outputs = count_fields(first, 12);
    m->nodes = onnx_alloc(m, (size_t)m->n_nodes + 1, sizeof *m->nodes);
    m->inits = onnx_alloc(m, (size_t)m->n_inits + 1, sizeof *m->inits);
    m->inputs = onnx_alloc(m, (size_t)m->n_inputs + 1, sizeof *m->inputs);
    m->outputs = onnx_alloc(m, (size_t)m->n_outputs + 1, sizeof *m->outputs);
    if (!m->nodes || !m->inits || !m->inputs || !m->outputs) return no_memory(r);
    int in_ = 0, ii = 0, ip = 0, io = 0;
    in = first;
    m->graph_name = "";
    while ((k = next(r, &in, &f, "the graph")) > 0) {
        pb_in body = pb_view(f.data, f.len);
        switch (f.number) {
        case 1: if (read_node(r, body, &m->nodes[in_++])) return -1; break;
        case 2: if (!(m->graph_name = string(r, &f, "the graph"))) return -1; break;
        case 5: if (read_tensor(r, body, &m->inits[ii++])) return -1; break;
        case 11: if (read_value(r, body, &m->inputs[ip++])) return -1; break;
        case 12: if (read_value(r, body, &m->outputs[io++])) return -1; break;
        default: break;
        }
    }
    return k < 0 ? -1 : 0;
}

static int read_model(reader *r, pb_in in) {
    onnx_model *m = r->m;
    pb_field f, g;
    int k, graphs = 0;
    pb_in first = in;
    m->opset = -1;
    m->producer_name = m->producer_version = "";
    while ((k = next(r, &in, &f, "the model")) > 0) {
        switch (f.number) {
        case 1: if (expect_wire(r, &f, PB_VARINT, "the model")) return -1; m->ir_version = (int64_t)f.value; break;
        case 2: if (!(m->producer_name = string(r, &f, "the model"))) return -1; break;
        case 3: if (!(m->producer_version = string(r, &f, "the model"))) return -1; break;
        case 7: if (expect_wire(r, &f, PB_BYTES, "the model")) return -1; graphs++; break;
        case 8: {
            if (expect_wire(r, &f, PB_BYTES, "opset_import")) return -1;
            const char *domain = "";
            int64_t version = -1;
            pb_in o = pb_view(f.data, f.len);
            while ((k = next(r, &o, &g, "opset_import")) > 0) {
                if (g.number == 1 && !(domain = string(r, &g, "opset_import"))) return -1;
                if (g.number == 2) version = (int64_t)g.value;
            }
            if (k < 0) return -1;
            if (!*domain || strcmp(domain, "ai.onnx") == 0) m->opset = version;
            break;
        }
        case 14: if (expect_wire(r, &f, PB_BYTES, "metadata_props")) return -1; m->n_meta++; break;
        default: break;
        }
    }
    if (k < 0) return -1;
    if (graphs != 1)
        return fail(r, graphs ? "the model has %d graphs" : "no graph: not an ONNX model (%d)",
                    graphs);
    m->meta_keys = onnx_alloc(m, (size_t)m->n_meta + 1, sizeof *m->meta_keys);
    m->meta_values = onnx_alloc(m, (size_t)m->n_meta + 1, sizeof *m->meta_values);
    if (!m->meta_keys || !m->meta_values) return no_memory(r);
    int im = 0;
    in = first;
    while ((k = next(r, &in, &f, "the model")) > 0) {
        if (f.number == 7 && read_graph(r, pb_view(f.data, f.len))) return -1;
        if (f.number != 14) continue;
        pb_in e = pb_view(f.data, f.len);
        m->meta_keys[im] = m->meta_values[im] = "";
        while ((k = next(r, &e, &g, "metadata_props")) > 0) {
            if (g.number == 1 && !(m->meta_keys[im] = string(r, &g, "metadata_props"))) return -1;
            if (g.number == 2 && !(m->meta_values[im] = string(r, &g, "metadata_props"))) return -1;
        }
        if (k < 0) return -1;
        im++;
    }
    return k < 0 ? -1 : 0;
}

cnn_status onnx_model_read(const uint8_t *data, size_t size, const char *dir, const char *source,
                           onnx_model *m, char *err, size_t errlen) {
    memset(m, 0, sizeof *m);
    reader r = {m, dir, source ? source : "model", err, errlen, CNN_STATUS_OK};
    if (read_model(&r, pb_view(data, size)) == 0 && m->opset < 0)
        fail(&r, "no operator set of the default domain: not an ONNX model");
    if (r.status != CNN_STATUS_OK) onnx_model_free(m);
    return r.status;
}
