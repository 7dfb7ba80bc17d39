/*
 * import.c - ONNX model to cnn network: the framework of the importer (import.h): values by
 * name, layer names, graph inputs and outputs, the walk over the nodes, and the public entry
 * points cnn_onnx_read and cnn_onnx_load. The operators are in import_ops.c.
 */
#include "import.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

cnn_status imp_fail(importer *im, cnn_status status, const char *fmt, ...) {
    if (!im->err || !im->errlen) return status;
    int k = im->node ? snprintf(im->err, im->errlen, "%s: node '%s' (%s): ", im->source,
                                im->node->name, im->node->op_type)
                     : snprintf(im->err, im->errlen, "%s: ", im->source);
    if (k >= 0 && (size_t)k < im->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(im->err + k, im->errlen - (size_t)k, fmt, ap);
        va_end(ap);
    }
    return status;
}

/* ---------------------------------------------------------------------------------------------
 * Values by name
 * ------------------------------------------------------------------------------------------- */

static uint32_t hash(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

/* The slot of name in the table: where it is, or the empty slot where it would go. */
static int *slot(importer *im, const char *name) {
    uint32_t mask = (uint32_t)im->table_size - 1;
    for (uint32_t h = hash(name) & mask;; h = (h + 1) & mask) {
        int *s = &im->table[h];
        if (!*s || strcmp(im->values[*s - 1].name, name) == 0) return s;
    }
}

value *imp_value(importer *im, const char *name) {
    int *s = slot(im, name);
    return *s && im->values[*s - 1].kind != VALUE_UNDEFINED ? &im->values[*s - 1] : NULL;
}

/* The entry of name, created undefined when new (room was made for every name). */
static value *entry(importer *im, const char *name) {
    int *s = slot(im, name);
    if (!*s) {
        CNN_ASSERT(im->n_values < im->cap);
        im->values[im->n_values] = (value){.name = name};
        *s = ++im->n_values;
    }
    return &im->values[*s - 1];
}

int imp_has_input(const onnx_node *n, int k) { return k < n->n_inputs && *n->inputs[k]; }

cnn_status imp_input(importer *im, const onnx_node *n, int k, value **v) {
    if (!imp_has_input(n, k))
        return imp_fail(im, CNN_STATUS_FORMAT, "input %d is missing", k + 1);
    *v = imp_value(im, n->inputs[k]);
    if (!*v)
        return imp_fail(im, CNN_STATUS_FORMAT,
                        "input '%s' is not given by any earlier node, initializer or graph "
                        "input (nodes must be in topological order)", n->inputs[k]);
    return CNN_STATUS_OK;
}

cnn_status imp_input_layer(importer *im, const onnx_node *n, int k, int *layer) {
    value *v;
    cnn_status st = imp_input(im, n, k, &v);
    if (st) return st;
    switch (v->kind) {
    case VALUE_LAYER: *layer = v->layer; return CNN_STATUS_OK;
    case VALUE_CONST:
        return imp_fail(im, CNN_STATUS_INVALID_ARGUMENT,
                        "input '%s' is a constant; cnn computes this operator only on the "
                        "network's activations", v->name);
    case VALUE_PAD:
        return imp_fail(im, CNN_STATUS_INVALID_ARGUMENT,
                        "reads '%s', the output of Pad node '%s': zero padding is folded only "
                        "into a Conv, ConvTranspose-free AveragePool (count_include_pad=1) or "
                        "another Pad", v->name, v->pad->name);
    default:
        return imp_fail(im, CNN_STATUS_INVALID_ARGUMENT,
                        "reads '%s', a MaxPool's Indices, which only MaxUnpool can read",
                        v->name);
    }
}

cnn_status imp_input_const(importer *im, const onnx_node *n, int k, const onnx_tensor **t) {
    value *v;
    cnn_status st = imp_input(im, n, k, &v);
    if (st) return st;
    if (v->kind != VALUE_CONST)
        return imp_fail(im, CNN_STATUS_INVALID_ARGUMENT,
                        "input %d ('%s') must be a constant (an initializer or a Constant), "
                        "not computed by the network", k + 1, v->name);
    *t = v->t;
    return CNN_STATUS_OK;
}

cnn_status imp_define(importer *im, const onnx_node *n, int k, value v) {
    if (k >= n->n_outputs || !*n->outputs[k]) return CNN_STATUS_OK;
    value *e = entry(im, n->outputs[k]);
    if (e->kind != VALUE_UNDEFINED)
        return imp_fail(im, CNN_STATUS_FORMAT, "output '%s' is already given by another node",
                        e->name);
    v.name = e->name;
    v.uses = e->uses;
    *e = v;
    return CNN_STATUS_OK;
}

int imp_output_used(importer *im, const onnx_node *n, int k) {
    return k < n->n_outputs && *n->outputs[k] && entry(im, n->outputs[k])->uses > 0;
}

const onnx_node *imp_sole_consumer(importer *im, const onnx_node *n, int *index) {
    if (n->n_outputs < 1 || entry(im, n->outputs[0])->uses != 1) return NULL;
    for (int i = (int)(n - im->m->nodes) + 1; i < im->m->n_nodes; i++) {
        const onnx_node *c = &im->m->nodes[i];
        for (int k = 0; k < c->n_inputs; k++)
            if (strcmp(c->inputs[k], n->outputs[0]) == 0) {
                *index = i;
                return c;
            }
    }
    return NULL; /* its one use is a graph output */
}

/* ---------------------------------------------------------------------------------------------
 * Layers
 * ------------------------------------------------------------------------------------------- */

/* PyTorch's scoped node names, "/layer1/layer1.0/conv1/Conv", to the module's name,
 * "layer1.0.conv1" (its state_dict prefix): a scope is left out when the next one extends it
 * ("layer1" before "layer1.0"), and the op type at the end when something is left. */
static void unscope(const char *onnx, const char *op_type, char *out, size_t size) {
    const char *part[64];
    size_t len[64];
    int n = 0;
    for (const char *p = onnx; *p && n < 64;) {
        const char *e = strchr(p, '/');
        if (!e) e = p + strlen(p);
        if (e > p) part[n] = p, len[n++] = (size_t)(e - p);
        p = *e ? e + 1 : e;
    }
    if (n > 1 && len[n - 1] == strlen(op_type) && !strncmp(part[n - 1], op_type, len[n - 1])) n--;
    size_t k = 0;
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        if (i + 1 < n && len[i + 1] > len[i] && !strncmp(part[i + 1], part[i], len[i]) &&
            part[i + 1][len[i]] == '.')
            continue;
        int w = snprintf(out + k, size - k, "%s%.*s", k ? "." : "", (int)len[i], part[i]);
        if (w < 0 || (size_t)w >= size - k) break;
        k += (size_t)w;
    }
}

/* A layer name from an ONNX name (unscoped): characters a cnn name cannot hold become '_',
 * the end of a long name is kept, and a taken name gets "_2", "_3"... */
static void layer_name(importer *im, const char *onnx, const char *op_type, char *out) {
    char base[CNN_NAME_MAX * 4];
    unscope(onnx, op_type, base, sizeof base);
    for (char *c = base; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '-' && *c != '.' && *c != '_') *c = '_';
    if (!base[0]) snprintf(base, sizeof base, "layer");
    for (int n = 1;; n++) {
        char tail[16] = "";
        if (n > 1) snprintf(tail, sizeof tail, "_%d", n);
        size_t len = strlen(base), room = CNN_NAME_MAX - 1 - strlen(tail);
        const char *start = len > room ? base + len - room : base;
        snprintf(out, CNN_NAME_MAX, "%s%s", start, tail);
        if (cnn_net_find(im->net, out) < 0) return;
    }
}

cnn_status imp_add_layer(importer *im, const onnx_node *n, const char *type, const int *inputs,
                         int n_inputs, const char *args, int *layer) {
    cnn_status st = imp_add_hidden_layer(im, n, type, inputs, n_inputs, args, layer);
    return st ? st : imp_define(im, n, 0, (value){.kind = VALUE_LAYER, .layer = *layer});
}

cnn_status imp_add_hidden_layer(importer *im, const onnx_node *n, const char *type,
                                const int *inputs, int n_inputs, const char *args, int *layer) {
    char name[CNN_NAME_MAX], list[CNN_MAX_INPUTS * CNN_NAME_MAX + 8] = "";
    layer_name(im, *n->name ? n->name : n->n_outputs ? n->outputs[0] : n->op_type, n->op_type,
               name);
    if (n_inputs > CNN_MAX_INPUTS)
        return imp_fail(im, CNN_STATUS_INVALID_ARGUMENT, "%d inputs; a cnn layer takes at most %d",
                        n_inputs, CNN_MAX_INPUTS);
    for (int k = 0; k < n_inputs; k++) {
        strcat(list, k ? "," : "");
        strcat(list, cnn_net_layer_name(im->net, inputs[k]));
    }
    cnn_status st = cnn_add(im->net, type, name, list, args);
    if (st) return imp_fail(im, st, "%s", cnn_net_last_error(im->net));
    *layer = cnn_net_layer_count(im->net) - 1;
    return CNN_STATUS_OK;
}

static void dims_str(char *buf, size_t size, int rank, const int *dims) {
    size_t k = 0;
    buf[0] = 0;
    for (int d = 0; d < rank && k < size; d++)
        k += (size_t)snprintf(buf + k, size - k, d ? "x%d" : "%d", dims[d]);
}

static void tensor_dims_str(char *buf, size_t size, const onnx_tensor *t) {
    size_t k = 0;
    buf[0] = 0;
    for (int d = 0; d < t->rank && k < size; d++)
        k += (size_t)snprintf(buf + k, size - k, d ? "x%lld" : "%lld", (long long)t->dims[d]);
    if (!t->rank) snprintf(buf, size, "scalar");
}

cnn_status imp_set_tensor(importer *im, int layer, const char *name, const onnx_tensor *src,
                          float scale, int transpose) {
    int count = cnn_net_param_tensor_count(im->net, layer);
    cnn_param_tensor t;
    for (int k = 0; k < count; k++) {
        cnn_net_param_tensor(im->net, layer, k, &t);
        if (strcmp(t.name, name) != 0) continue;
        char want[64], got[64];
        dims_str(want, sizeof want, t.rank, t.dims);
        tensor_dims_str(got, sizeof got, src);
        if (!src->f)
            return imp_fail(im, CNN_STATUS_INVALID_ARGUMENT, "%s '%s' is not a float tensor",
                            name, src->name);
        if (src->count != t.count)
            return imp_fail(im, CNN_STATUS_SHAPE, "%s '%s' is %s; layer '%s' needs %s", name,
                            src->name, got, cnn_net_layer_name(im->net, layer), want);
        if (transpose) {
            int out = t.dims[0], in = t.dims[1];
            for (int o = 0; o < out; o++)
                for (int i = 0; i < in; i++)
                    t.data[(size_t)o * in + i] = scale * src->f[(size_t)i * out + o];
        } else {
            for (size_t j = 0; j < t.count; j++) t.data[j] = scale * src->f[j];
        }
        return CNN_STATUS_OK;
    }
    CNN_ASSERT(!"the layer has no tensor of that name");
    return CNN_STATUS_STATE;
}

onnx_tensor *imp_new_const(importer *im, int data_type, int rank, const int64_t *dims) {
    onnx_tensor *t = onnx_alloc(im->m, 1, sizeof *t);
    if (!t) return NULL;
    t->name = "";
    t->data_type = data_type;
    t->rank = rank;
    t->count = 1;
    for (int d = 0; d < rank; d++) {
        t->dims[d] = dims[d];
        t->count *= (size_t)dims[d];
    }
    if (data_type == ONNX_FLOAT)
        t->f = onnx_alloc(im->m, t->count + 1, sizeof *t->f);
    else
        t->i = onnx_alloc(im->m, t->count + 1, sizeof *t->i);
    return t->f || t->i ? t : NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Attributes
 * ------------------------------------------------------------------------------------------- */

int64_t imp_attr_int(const onnx_node *n, const char *name, int64_t def) {
    const onnx_attr *a = onnx_attr_find(n, name);
    return a ? a->i : def;
}

float imp_attr_float(const onnx_node *n, const char *name, float def) {
    const onnx_attr *a = onnx_attr_find(n, name);
    return a ? a->f : def;
}

const char *imp_attr_string(const onnx_node *n, const char *name, const char *def) {
    const onnx_attr *a = onnx_attr_find(n, name);
    return a && a->s ? a->s : def;
}

cnn_status imp_attr_ints(importer *im, const onnx_node *n, const char *name, int64_t *v, int max,
                         int *count) {
    const onnx_attr *a = onnx_attr_find(n, name);
    if (!a) return CNN_STATUS_OK;
    if (a->n > (size_t)max)
        return imp_fail(im, CNN_STATUS_INVALID_ARGUMENT, "attribute '%s' has %zu values (at most "
                        "%d here)", name, a->n, max);
    if (a->n) memcpy(v, a->ints, a->n * sizeof *v);
    *count = (int)a->n;
    return CNN_STATUS_OK;
}

/* ---------------------------------------------------------------------------------------------
 * The graph
 * ------------------------------------------------------------------------------------------- */

/* Room for every name the graph can give, then initializers as constants and uses counted. */
static cnn_status index_values(importer *im) {
    onnx_model *m = im->m;
    size_t names = (size_t)m->n_inits + (size_t)m->n_inputs;
    for (int i = 0; i < m->n_nodes; i++) names += (size_t)m->nodes[i].n_outputs;
    names += (size_t)m->n_outputs;
    for (int i = 0; i < m->n_nodes; i++) names += (size_t)m->nodes[i].n_inputs;
    im->cap = (int)names + 1;
    im->table_size = 16;
    while ((size_t)im->table_size < 2 * names) im->table_size *= 2;
    im->values = onnx_alloc(m, (size_t)im->cap, sizeof *im->values);
    im->table = onnx_alloc(m, (size_t)im->table_size, sizeof *im->table);
    im->skip = onnx_alloc(m, (size_t)m->n_nodes + 1, sizeof *im->skip);
    if (!im->values || !im->table || !im->skip) return imp_fail(im, CNN_STATUS_NO_MEMORY, "out of memory");
    for (int i = 0; i < m->n_inits; i++) {
        value *v = entry(im, m->inits[i].name);
        if (v->kind != VALUE_UNDEFINED)
            return imp_fail(im, CNN_STATUS_FORMAT, "two initializers are named '%s'", v->name);
        v->kind = VALUE_CONST;
        v->t = &m->inits[i];
    }
    /* Nodes that no graph output depends on are dead code, not imported (skip). Walking the
     * nodes backwards, a node is live when a graph output or a live node reads one of its
     * outputs; `uses` counts the reads by graph outputs and live nodes. */
    for (int i = 0; i < m->n_outputs; i++) entry(im, m->outputs[i].name)->uses++;
    for (int i = m->n_nodes - 1; i >= 0; i--) {
        const onnx_node *n = &m->nodes[i];
        int live = 0;
        for (int k = 0; k < n->n_outputs && !live; k++)
            live = *n->outputs[k] && entry(im, n->outputs[k])->uses > 0;
        im->skip[i] = !live;
        for (int k = 0; live && k < n->n_inputs; k++)
            if (*n->inputs[k]) entry(im, n->inputs[k])->uses++;
    }
    return CNN_STATUS_OK;
}

/* Graph inputs that no initializer gives become input layers, their shape without the batch
 * dimension: (N, C) is C, (N, C, L) is CxL, (N, C, H, W) is CxHxW. */
static cnn_status add_inputs(importer *im) {
    im->input_batch = -1;
    for (int i = 0; i < im->m->n_inputs; i++) {
        const onnx_value *in = &im->m->inputs[i];
        value *v = entry(im, in->name);
        if (v->kind == VALUE_CONST) continue; /* an initializer listed as an input (IR < 4) */
        if (in->elem_type != ONNX_FLOAT)
            return imp_fail(im, CNN_STATUS_INVALID_ARGUMENT,
                            "graph input '%s' has element type %d; cnn's inputs are float "
                            "(1)", in->name, in->elem_type);
        if (in->rank < 2 || in->rank > 4)
            return imp_fail(im, CNN_STATUS_INVALID_ARGUMENT,
                            in->rank < 0 ? "graph input '%s' has no shape"
                                         : "graph input '%s' has rank %d; cnn takes (N, C), "
                                           "(N, C, L) or (N, C, H, W)",
                            in->name, in->rank);
        char shape[64] = "", name[CNN_NAME_MAX];
        size_t k = 0;
        for (int d = 1; d < in->rank; d++) {
            if (in->dims[d] < 1 || in->dims[d] > (1 << 24))
                return imp_fail(im, CNN_STATUS_INVALID_ARGUMENT,
                                "graph input '%s' has no fixed size in dimension %d; cnn needs "
                                "the size of a sample", in->name, d);
            k += (size_t)snprintf(shape + k, sizeof shape - k, d > 1 ? "x%lld" : "shape=%lld",
                                  (long long)in->dims[d]);
        }
        if (im->input_batch < 0 && in->dims[0] > 0) im->input_batch = in->dims[0];
        layer_name(im, in->name, "", name);
        cnn_status st = cnn_add(im->net, "input", name, NULL, shape);
        if (st) return imp_fail(im, st, "%s", cnn_net_last_error(im->net));
        v->kind = VALUE_LAYER;
        v->layer = cnn_net_layer_count(im->net) - 1;
    }
    if (!cnn_net_input_count(im->net))
        return imp_fail(im, CNN_STATUS_INVALID_ARGUMENT, "the graph has no input");
    return CNN_STATUS_OK;
}

static cnn_status import_nodes(importer *im) {
    for (int i = 0; i < im->m->n_nodes; i++) {
        const onnx_node *n = &im->m->nodes[i];
        if (im->skip[i]) continue;
        im->node = n;
        if (*n->domain && strcmp(n->domain, "ai.onnx") != 0)
            return imp_fail(im, CNN_STATUS_INVALID_ARGUMENT,
                            "operator domain '%s' is not supported (only ONNX's own operators)",
                            n->domain);
        imp_op_fn fn = imp_find_op(n->op_type);
        if (!fn) {
            char list[1024];
            imp_op_list(list, sizeof list);
            return imp_fail(im, CNN_STATUS_INVALID_ARGUMENT,
                            "operator %s is not supported; cnn imports %s", n->op_type, list);
        }
        cnn_status st = fn(im, n, i);
        if (st) return st;
        for (int k = 0; k < n->n_outputs; k++)
            if (*n->outputs[k] && entry(im, n->outputs[k])->kind == VALUE_UNDEFINED &&
                entry(im, n->outputs[k])->uses)
                return imp_fail(im, CNN_STATUS_INVALID_ARGUMENT,
                                "output %d ('%s') is used but cnn does not compute it", k + 1,
                                n->outputs[k]);
    }
    im->node = NULL;
    return CNN_STATUS_OK;
}

/* The first graph output is the network's output; the others stay layers of the network
 * (cnn infer --output reads any layer). */
static cnn_status set_output(importer *im) {
    if (im->m->n_outputs < 1) return imp_fail(im, CNN_STATUS_INVALID_ARGUMENT, "the graph has no output");
    for (int i = 0; i < im->m->n_outputs; i++) {
        value *v = imp_value(im, im->m->outputs[i].name);
        if (!v || v->kind != VALUE_LAYER)
            return imp_fail(im, CNN_STATUS_INVALID_ARGUMENT,
                            "graph output '%s' is %s, not computed by the network's layers",
                            im->m->outputs[i].name, !v ? "given by no node" : "a constant or indices");
    }
    /* A network ends at its output (the text format and so checkpoints say no more). */
    value *out = imp_value(im, im->m->outputs[0].name);
    int last = cnn_net_layer_count(im->net) - 1;
    if (out->layer != last)
        return imp_fail(im, CNN_STATUS_INVALID_ARGUMENT,
                        "graph output '%s' is computed before layer '%s', which other graph "
                        "outputs need; a cnn network ends at its output: list the output "
                        "computed last first", im->m->outputs[0].name,
                        cnn_net_layer_name(im->net, last));
    cnn_status st = cnn_net_set_output(im->net, cnn_net_layer_name(im->net, out->layer));
    return st ? imp_fail(im, st, "%s", cnn_net_last_error(im->net)) : CNN_STATUS_OK;
}

static int hex_digit(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The preprocessing cnn_onnx_save stored (metadata "cnn.preprocess": a checkpoint's PREP
 * section in hexadecimal). */
static cnn_status read_preprocess(importer *im) {
    for (int i = 0; i < im->m->n_meta; i++) {
        if (strcmp(im->m->meta_keys[i], "cnn.preprocess") != 0) continue;
        const char *hex = im->m->meta_values[i];
        size_t len = strlen(hex);
        unsigned char *bytes = onnx_alloc(im->m, len / 2 + 1, 1);
        if (!bytes) return imp_fail(im, CNN_STATUS_NO_MEMORY, "out of memory");
        for (size_t k = 0; k < len; k += 2) {
            int hi = hex_digit(hex[k]), lo = k + 1 < len ? hex_digit(hex[k + 1]) : -1;
            if (hi < 0 || lo < 0)
                return imp_fail(im, CNN_STATUS_FORMAT, "metadata cnn.preprocess is not hexadecimal");
            bytes[k / 2] = (unsigned char)(hi << 4 | lo);
        }
        cnn_status st = cnn_prep_decode(im->net, bytes, len / 2, NULL);
        return st ? imp_fail(im, st, "metadata cnn.preprocess: %s", cnn_net_last_error(im->net))
                  : CNN_STATUS_OK;
    }
    return CNN_STATUS_OK;
}

static cnn_status import_model(onnx_model *m, const char *source, cnn_net **out, char *err,
                               size_t errlen) {
    importer im = {.m = m, .err = err, .errlen = errlen, .source = source};
    if (m->opset < 7 || m->opset > 17)
        return imp_fail(&im, CNN_STATUS_INVALID_ARGUMENT,
                        "operator set %lld; cnn imports opsets 7 to 17", (long long)m->opset);
    im.net = cnn_net_new(0);
    if (!im.net) return imp_fail(&im, CNN_STATUS_NO_MEMORY, "out of memory");
    cnn_status st = index_values(&im);
    if (!st) st = add_inputs(&im);
    if (!st) st = import_nodes(&im);
    if (!st) st = set_output(&im);
    if (!st) st = read_preprocess(&im);
    if (st) {
        cnn_net_free(im.net);
        return st;
    }
    *out = im.net;
    return CNN_STATUS_OK;
}

cnn_status cnn_onnx_read(const void *data, size_t size, const char *source, cnn_net **out,
                         char *err, size_t errlen) {
    *out = NULL;
    onnx_model m;
    cnn_status st = onnx_model_read(data, size, NULL, source, &m, err, errlen);
    if (st) return st;
    st = import_model(&m, source ? source : "model", out, err, errlen);
    onnx_model_free(&m);
    return st;
}

cnn_status cnn_onnx_load(const char *path, cnn_net **out, char *err, size_t errlen) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    struct stat st_;
    if (!f || fstat(fileno(f), &st_) != 0 || !S_ISREG(st_.st_mode)) {
        int e = errno;
        if (f) fclose(f);
        return cnn_set_error(err, errlen, CNN_STATUS_IO, "%s: %s", path,
                             f ? "not a regular file" : strerror(e));
    }
    /* Protocol buffers cap a message at 2 GiB. */
    if (st_.st_size > ((off_t)1 << 31)) {
        fclose(f);
        return cnn_set_error(err, errlen, CNN_STATUS_FORMAT,
                             "%s: %lld bytes, more than an ONNX file can hold (2 GiB)", path,
                             (long long)st_.st_size);
    }
    size_t size = (size_t)st_.st_size;
    uint8_t *bytes = cnn_alloc(size ? size : 1);
    if (!bytes || fread(bytes, 1, size, f) != size) {
        fclose(f);
        cnn_free(bytes);
        return cnn_set_error(err, errlen, bytes ? CNN_STATUS_IO : CNN_STATUS_NO_MEMORY,
                             "%s: %s", path, bytes ? "read failed" : "out of memory");
    }
    fclose(f);
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (slash)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path) ? (int)(slash - path) : 1, path);
    else
        snprintf(dir, sizeof dir, ".");
    onnx_model m;
    cnn_status st = onnx_model_read(bytes, size, dir, path, &m, err, errlen);
    cnn_free(bytes);
    if (st) return st;
    st = import_model(&m, path, out, err, errlen);
    onnx_model_free(&m);
    return st;
}
