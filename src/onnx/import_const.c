/*
 * import_const.c - ONNX operators on constants, computed while importing (import.h).
 *
 * Exporters leave small computations on constants in their graphs: the batch size read by
 * Shape and glued into a Reshape's target, or (PyTorch's F.pad) a chain of ConstantOfShape,
 * Concat, Reshape, Slice, Transpose and Cast that reorders pads. cnn evaluates them at import:
 * a constant is an onnx_tensor with float or int64 values, and each of these operators makes
 * a new one. The batch size, unknown until run time, is ONNX_BATCH.
 */
#include "import.h"

#include <string.h>

#define FAIL(...) imp_fail(im, CNN_STATUS_INVALID_ARGUMENT, __VA_ARGS__)

/* Constants made here are shapes and pads: a few values. A larger one is refused. */
#define MAX_CONST_COUNT (1 << 20)

/* A new constant of the kind of `like` (float or int64), or of data_type when like is NULL;
 * NULL with the error reported when the dims are negative, too large or memory runs out. */
static onnx_tensor *new_const(importer *im, const onnx_tensor *like, int data_type, int rank,
                              const int64_t *dims) {
    size_t count = 1;
    for (int d = 0; d < rank; d++) {
        if (dims[d] < 0 || dims[d] > MAX_CONST_COUNT || (count *= (size_t)dims[d]) > MAX_CONST_COUNT) {
            FAIL("a constant of more than %d values (or a negative dimension) is not supported",
                 MAX_CONST_COUNT);
            return NULL;
        }
    }
    if (rank > ONNX_MAX_RANK) {
        FAIL("a constant of rank %d (at most %d)", rank, ONNX_MAX_RANK);
        return NULL;
    }
    int type = like ? (like->f ? ONNX_FLOAT : ONNX_INT64) : data_type;
    onnx_tensor *t = imp_new_const(im, type, rank, dims);
    if (!t) imp_fail(im, CNN_STATUS_NO_MEMORY, "out of memory");
    return t;
}

static cnn_status define(importer *im, const onnx_node *n, onnx_tensor *t) {
    if (!t) return CNN_STATUS_INVALID_ARGUMENT; /* reported by new_const */
    return imp_define(im, n, 0, (value){.kind = VALUE_CONST, .t = t});
}

/* dst[j] = src[k], of the same kind. */
static void put(onnx_tensor *dst, size_t j, const onnx_tensor *src, size_t k) {
    if (dst->f) dst->f[j] = src->f[k];
    else dst->i[j] = src->i[k];
}

/* Copies a strided view of src into dst (dst's dims): element (c_0, ..., c_r-1) of dst is
 * src's element at base + sum c_d step[d]. Slice and Transpose are such views. */
static void view_copy(onnx_tensor *dst, const onnx_tensor *src, int64_t base, const int64_t *step) {
    int64_t c[ONNX_MAX_RANK] = {0};
    for (size_t j = 0; j < dst->count; j++) {
        int64_t at = base;
        for (int d = 0; d < dst->rank; d++) at += c[d] * step[d];
        put(dst, j, src, (size_t)at);
        for (int d = dst->rank - 1; d >= 0 && ++c[d] == dst->dims[d]; d--) c[d] = 0;
    }
}

/* Row-major strides of a tensor. */
static void strides(const onnx_tensor *t, int64_t *s) {
    int64_t k = 1;
    for (int d = t->rank - 1; d >= 0; d--) {
        s[d] = k;
        k *= t->dims[d];
    }
}

/* An int64 list: an attribute (opsets before `since`) or input k (from `since` on). Returns
 * the count, or -1 when absent; reports an error (-2) when malformed. */
static int int_list(importer *im, const onnx_node *n, const char *attr, int k, int since,
                    int64_t *v, int max) {
    int count = -1;
    if (im->m->opset < since) {
        if (imp_attr_ints(im, n, attr, v, max, &count)) return -2;
        return count;
    }
    if (!imp_has_input(n, k)) return -1;
    const onnx_tensor *t;
    if (imp_input_const(im, n, k, &t)) return -2;
    if (!t->i || t->count > (size_t)max) {
        FAIL("%s must be at most %d int64 values", attr, max);
        return -2;
    }
    memcpy(v, t->i, t->count * sizeof *v);
    return (int)t->count;
}

/* An axis in [0, rank), or -1 (reported). */
static int64_t axis_of(importer *im, int64_t a, int rank) {
    if (a < -rank || a >= rank) {
        FAIL("axis %lld is out of range for rank %d", (long long)a, rank);
        return -1;
    }
    return a < 0 ? a + rank : a;
}

cnn_status imp_const_constant(importer *im, const onnx_node *n, int i) {
    if (n->n_attrs != 1) return FAIL("needs exactly one attribute");
    const onnx_attr *a = &n->attrs[0];
    if (strcmp(a->name, "value") == 0 && a->t) return imp_define(im, n, 0, (value){.kind = VALUE_CONST, .t = a->t});
    int is_list = strcmp(a->name, "value_floats") == 0 || strcmp(a->name, "value_ints") == 0;
    int is_float = strcmp(a->name, "value_float") == 0 || strcmp(a->name, "value_floats") == 0;
    if (!is_list && strcmp(a->name, "value_float") != 0 && strcmp(a->name, "value_int") != 0)
        return FAIL("attribute '%s' is not supported", a->name);
    int64_t count = is_list ? (int64_t)a->n : 1;
    onnx_tensor *t = new_const(im, NULL, is_float ? ONNX_FLOAT : ONNX_INT64, is_list, &count);
    for (int64_t k = 0; t && k < count; k++) {
        if (is_float) t->f[k] = is_list ? a->floats[k] : a->f;
        else t->i[k] = is_list ? a->ints[k] : a->i;
    }
    return define(im, n, t);
}

cnn_status imp_const_of_shape(importer *im, const onnx_node *n, int i) {
    const onnx_tensor *shape;
    cnn_status st = imp_input_const(im, n, 0, &shape);
    if (st) return st;
    if (!shape->i || shape->rank != 1) return FAIL("the shape must be 1-D int64");
    const onnx_attr *a = onnx_attr_find(n, "value");
    if (a && (!a->t || a->t->count != 1)) return FAIL("value must be a tensor of one element");
    onnx_tensor *t = new_const(im, a ? a->t : NULL, ONNX_FLOAT, (int)shape->count, shape->i);
    for (size_t k = 0; t && k < t->count; k++) {
        if (a) put(t, k, a->t, 0);
        else t->f[k] = 0;
    }
    return define(im, n, t);
}

/* The shape of an activation, (batch, sample dims...), with the batch as ONNX_BATCH, or of a
 * constant; opset 15's start and end slice it. */
cnn_status imp_const_shape(importer *im, const onnx_node *n, int i) {
    value *v;
    cnn_status st = imp_input(im, n, 0, &v);
    if (st) return st;
    int64_t full[ONNX_MAX_RANK];
    int64_t rank;
    if (v->kind == VALUE_CONST) {
        rank = v->t->rank;
        memcpy(full, v->t->dims, (size_t)rank * sizeof *full);
    } else {
        int x;
        if ((st = imp_input_layer(im, n, 0, &x))) return st;
        cnn_shape s = cnn_net_layer_shape(im->net, x);
        rank = s.rank + 1;
        full[0] = ONNX_BATCH;
        for (int d = 0; d < s.rank; d++) full[d + 1] = s.dim[d];
    }
    int64_t start = imp_attr_int(n, "start", 0), end = imp_attr_int(n, "end", rank);
    if (start < 0) start += rank;
    if (end < 0) end += rank;
    start = start < 0 ? 0 : start > rank ? rank : start;
    end = end < start ? start : end > rank ? rank : end;
    int64_t len = end - start;
    onnx_tensor *t = new_const(im, NULL, ONNX_INT64, 1, &len);
    if (t) memcpy(t->i, full + start, (size_t)len * sizeof *t->i);
    return define(im, n, t);
}

cnn_status imp_const_gather(importer *im, const onnx_node *n, int i) {
    const onnx_tensor *data, *idx;
    cnn_status st = imp_input_const(im, n, 0, &data);
    if (!st) st = imp_input_const(im, n, 1, &idx);
    if (st) return st;
    if (data->rank != 1 || !idx->i || idx->rank > 1 || imp_attr_int(n, "axis", 0) != 0)
        return FAIL("only gathering from a 1-D constant along axis 0 is supported");
    onnx_tensor *t = new_const(im, data, 0, idx->rank, idx->dims);
    for (size_t k = 0; t && k < idx->count; k++) {
        int64_t j = idx->i[k] < 0 ? idx->i[k] + (int64_t)data->count : idx->i[k];
        if (j < 0 || j >= (int64_t)data->count) return FAIL("index %lld is out of range", (long long)idx->i[k]);
        put(t, k, data, (size_t)j);
    }
    return define(im, n, t);
}

cnn_status imp_const_unsqueeze(importer *im, const onnx_node *n, int i) {
    const onnx_tensor *data;
    int64_t axes[ONNX_MAX_RANK], dims[ONNX_MAX_RANK];
    cnn_status st = imp_input_const(im, n, 0, &data);
    if (st) return st;
    int na = int_list(im, n, "axes", 1, 13, axes, ONNX_MAX_RANK);
    if (na == -2) return CNN_STATUS_INVALID_ARGUMENT;
    int rank = data->rank + na;
    if (na < 1 || rank > ONNX_MAX_RANK) return FAIL("axes are missing or too many");
    int inserted[ONNX_MAX_RANK] = {0};
    for (int k = 0; k < na; k++) {
        int64_t a = axis_of(im, axes[k], rank);
        if (a < 0) return CNN_STATUS_INVALID_ARGUMENT;
        if (inserted[a]) return FAIL("axis %lld is given twice", (long long)axes[k]);
        inserted[a] = 1;
    }
    for (int d = 0, s = 0; d < rank; d++) dims[d] = inserted[d] ? 1 : data->dims[s++];
    onnx_tensor *t = new_const(im, data, 0, rank, dims);
    for (size_t k = 0; t && k < t->count; k++) put(t, k, data, k);
    return define(im, n, t);
}

cnn_status imp_const_squeeze(importer *im, const onnx_node *n, int i) {
    const onnx_tensor *data;
    int64_t axes[ONNX_MAX_RANK], dims[ONNX_MAX_RANK];
    cnn_status st = imp_input_const(im, n, 0, &data);
    if (st) return st;
    int na = int_list(im, n, "axes", 1, 13, axes, ONNX_MAX_RANK);
    if (na == -2) return CNN_STATUS_INVALID_ARGUMENT;
    int drop[ONNX_MAX_RANK] = {0}, rank = 0;
    for (int d = 0; na < 0 && d < data->rank; d++) drop[d] = data->dims[d] == 1;
    for (int k = 0; k < na; k++) {
        int64_t a = axis_of(im, axes[k], data->rank);
        if (a < 0) return CNN_STATUS_INVALID_ARGUMENT;
        if (data->dims[a] != 1) return FAIL("axis %lld has size %lld, not 1", (long long)axes[k], (long long)data->dims[a]);
        drop[a] = 1;
    }
    for (int d = 0; d < data->rank; d++)
        if (!drop[d]) dims[rank++] = data->dims[d];
    onnx_tensor *t = new_const(im, data, 0, rank, dims);
    for (size_t k = 0; t && k < t->count; k++) put(t, k, data, k);
    return define(im, n, t);
}

cnn_status imp_const_cast(importer *im, const onnx_node *n, int i) {
    const onnx_tensor *data;
    cnn_status st = imp_input_const(im, n, 0, &data);
    if (st) return st;
    int64_t to = imp_attr_int(n, "to", 0);
    int to_float = to == ONNX_FLOAT || to == ONNX_DOUBLE;
    if (!to_float && to != ONNX_INT64 && to != ONNX_INT32 && to != ONNX_INT8 &&
        to != ONNX_UINT8 && to != ONNX_BOOL)
        return FAIL("cast of a constant to type %lld is not supported", (long long)to);
    onnx_tensor *t = new_const(im, NULL, to_float ? ONNX_FLOAT : ONNX_INT64, data->rank, data->dims);
    for (size_t k = 0; t && k < data->count; k++) {
        if (t->f) t->f[k] = data->f ? data->f[k] : (float)data->i[k];
        else if (to == ONNX_BOOL) t->i[k] = data->f ? data->f[k] != 0 : data->i[k] != 0;
        else t->i[k] = data->i ? data->i[k] : (int64_t)data->f[k];
    }
    return define(im, n, t);
}

/* Slice: inputs starts, ends, axes, steps from opset 10, attributes before; ends beyond the
 * axis (INT64_MAX, as exporters write "to the end") are clamped as the operator says. */
cnn_status imp_const_slice(importer *im, const onnx_node *n, int i) {
    const onnx_tensor *data;
    int64_t starts[ONNX_MAX_RANK], ends[ONNX_MAX_RANK], axes[ONNX_MAX_RANK], steps[ONNX_MAX_RANK];
    cnn_status st = imp_input_const(im, n, 0, &data);
    if (st) return st;
    int ns = int_list(im, n, "starts", 1, 10, starts, ONNX_MAX_RANK);
    int ne = int_list(im, n, "ends", 2, 10, ends, ONNX_MAX_RANK);
    int na = int_list(im, n, "axes", 3, 10, axes, ONNX_MAX_RANK);
    int nt = int_list(im, n, "steps", 4, 10, steps, ONNX_MAX_RANK);
    if (ns == -2 || ne == -2 || na == -2 || nt == -2) return CNN_STATUS_INVALID_ARGUMENT;
    if (ns < 0 || ns != ne || (na >= 0 && na != ns) || (nt >= 0 && nt != ns))
        return FAIL("starts, ends, axes and steps must have the same length");
    int64_t lo[ONNX_MAX_RANK], step[ONNX_MAX_RANK], dims[ONNX_MAX_RANK], s[ONNX_MAX_RANK];
    for (int d = 0; d < data->rank; d++) lo[d] = 0, step[d] = 1, dims[d] = data->dims[d];
    for (int k = 0; k < ns; k++) {
        int64_t a = axis_of(im, na >= 0 ? axes[k] : k, data->rank);
        if (a < 0) return CNN_STATUS_INVALID_ARGUMENT;
        int64_t dim = data->dims[a], t = nt >= 0 ? steps[k] : 1, b = starts[k], e = ends[k];
        if (t == 0) return FAIL("a step of 0");
        if (t > dim + 1 || t < -dim - 1) t = t > 0 ? dim + 1 : -dim - 1; /* the same slice */
        if (b < 0) b = b < -dim ? 0 : b + dim;
        if (e < 0) e = e < -dim ? -1 : e + dim;
        if (t > 0) {
            b = b > dim ? dim : b;
            e = e > dim ? dim : e < 0 ? 0 : e;
            dims[a] = e > b ? (e - b + t - 1) / t : 0;
        } else {
            b = b > dim - 1 ? dim - 1 : b;
            e = e > dim - 1 ? dim - 1 : e;
            dims[a] = b > e ? (b - e - t - 1) / -t : 0;
        }
        lo[a] = b;
        step[a] = t;
    }
    strides(data, s);
    int64_t base = 0, view[ONNX_MAX_RANK];
    for (int d = 0; d < data->rank; d++) {
        base += dims[d] ? lo[d] * s[d] : 0;
        view[d] = step[d] * s[d];
    }
    onnx_tensor *t = new_const(im, data, 0, data->rank, dims);
    if (t) view_copy(t, data, base, view);
    return define(im, n, t);
}

cnn_status imp_const_transpose(importer *im, const onnx_node *n, int i) {
    const onnx_tensor *data;
    cnn_status st = imp_input_const(im, n, 0, &data);
    if (st) return st;
    int64_t perm[ONNX_MAX_RANK], dims[ONNX_MAX_RANK], s[ONNX_MAX_RANK], view[ONNX_MAX_RANK];
    int np = -1, seen[ONNX_MAX_RANK] = {0};
    if ((st = imp_attr_ints(im, n, "perm", perm, ONNX_MAX_RANK, &np))) return st;
    if (np < 0)
        for (np = 0; np < data->rank; np++) perm[np] = data->rank - 1 - np;
    if (np != data->rank) return FAIL("perm has %d values for rank %d", np, data->rank);
    strides(data, s);
    for (int d = 0; d < np; d++) {
        if (perm[d] < 0 || perm[d] >= np || seen[perm[d]]++) return FAIL("perm is not a permutation");
        dims[d] = data->dims[perm[d]];
        view[d] = s[perm[d]];
    }
    onnx_tensor *t = new_const(im, data, 0, np, dims);
    if (t) view_copy(t, data, 0, view);
    return define(im, n, t);
}

cnn_status imp_const_concat(importer *im, const onnx_node *n, int i) {
    const onnx_tensor *first, *t;
    cnn_status st = imp_input_const(im, n, 0, &first);
    if (st) return st;
    int64_t axis = axis_of(im, imp_attr_int(n, "axis", 0), first->rank), dims[ONNX_MAX_RANK];
    if (axis < 0) return CNN_STATUS_INVALID_ARGUMENT;
    memcpy(dims, first->dims, sizeof dims);
    dims[axis] = 0;
    for (int k = 0; k < n->n_inputs; k++) {
        if ((st = imp_input_const(im, n, k, &t))) return st;
        int same = t->rank == first->rank && !t->f == !first->f;
        for (int d = 0; same && d < t->rank; d++) same = d == axis || t->dims[d] == first->dims[d];
        if (!same || t->dims[axis] > MAX_CONST_COUNT)
            return FAIL("constants of different types or shapes are concatenated");
        dims[axis] += t->dims[axis];
    }
    onnx_tensor *r = new_const(im, first, 0, first->rank, dims);
    if (!r) return CNN_STATUS_INVALID_ARGUMENT;
    /* outer blocks (the axes before `axis`), each the inputs' rows one after the other */
    size_t outer = 1, j = 0;
    for (int d = 0; d < axis; d++) outer *= (size_t)dims[d];
    for (size_t o = 0; o < outer; o++)
        for (int k = 0; k < n->n_inputs; k++) {
            t = imp_value(im, n->inputs[k])->t;
            size_t block = outer ? t->count / outer : 0;
            for (size_t q = 0; q < block; q++) put(r, j++, t, o * block + q);
        }
    return define(im, n, r);
}

/* Reshape of a constant: 0 copies a dimension (unless allowzero), -1 takes the rest. */
cnn_status imp_const_reshape(importer *im, const onnx_node *n, int i) {
    const onnx_tensor *data, *shape;
    cnn_status st = imp_input_const(im, n, 0, &data);
    if (!st) st = imp_input_const(im, n, 1, &shape);
    if (st) return st;
    if (!shape->i || shape->rank != 1 || shape->count > ONNX_MAX_RANK)
        return FAIL("the shape must be at most %d int64 values", ONNX_MAX_RANK);
    int64_t dims[ONNX_MAX_RANK], known = 1;
    int infer = -1, rank = (int)shape->count;
    for (int d = 0; d < rank; d++) {
        int64_t v = shape->i[d];
        if (v == 0 && !imp_attr_int(n, "allowzero", 0)) {
            if (d >= data->rank) return FAIL("a 0 beyond the data's rank");
            v = data->dims[d];
        }
        if (v == -1 && infer < 0) infer = d;
        else if (v < 0) return FAIL("shape value %lld", (long long)shape->i[d]);
        else if (v > MAX_CONST_COUNT || (known *= v) > MAX_CONST_COUNT) return FAIL("the shape is too large");
        dims[d] = v;
    }
    if (infer >= 0) {
        if (!known || data->count % (size_t)known) return FAIL("the shape does not fit %zu values", data->count);
        dims[infer] = (int64_t)data->count / known;
    } else if ((size_t)known != data->count) {
        return FAIL("the shape does not fit %zu values", data->count);
    }
    onnx_tensor *t = new_const(im, data, 0, rank, dims);
    for (size_t k = 0; t && k < t->count; k++) put(t, k, data, k);
    return define(im, n, t);
}
