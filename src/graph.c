/*
 * graph.c - building a network, shape inference, memory planning and the forward and backward
 * drivers.
 *
 * Layers are kept in the order they were added, which is a topological order because a layer
 * may only take earlier layers as inputs. Forward walks that order, backward walks it back from
 * the output. All activations (y), their gradients (dy) and what layers save for backward live
 * in one arena planned by cnn_net_prepare; forward and backward allocate nothing.
 */
#include "core/internal.h"

#include <limits.h>
#include <string.h>

cnn_net *cnn_net_new(uint64_t seed) {
    cnn_net *net = cnn_calloc(1, sizeof *net);
    if (!net) return NULL;
    cnn_rng_seed(&net->rng, seed);
    net->threads = 1;
    net->output = -1;
    return net;
}

/* bytes rounded up to whole pages of 4 KB. */
static size_t whole_pages(size_t bytes) { return (bytes + 4095) / 4096 * 4096; }

static void unprepare(cnn_net *net) {
    cnn_free(net->arena);
    cnn_free(net->work);
    net->arena = net->work = NULL;
    net->work_size = net->thread_work_size = net->thread_stride = 0;
    net->max_batch = net->batch = 0;
    net->forward_done = 0;
}

cnn_status cnn_node_set_args(cnn_net *net, cnn_node *n, const char *args) {
    const cnn_layer_type *t = n->type;
    void *old = n->params;
    cnn_shape shape = n->shape;
    size_t n_params = n->n_params, n_state = n->n_state;
    n->params = cnn_calloc(1, t->params_size ? t->params_size : 1);
    if (!n->params) {
        n->params = old;
        return cnn_error(net, CNN_STATUS_NO_MEMORY, "out of memory changing a layer");
    }
    char msg[768];
    int col;
    cnn_status st = CNN_STATUS_OK;
    if (cnn_fields_parse(t->fields, n->params, args, msg, sizeof msg, &col))
        st = cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT, "%s", msg);
    if (!st) st = t->setup(net, n);
    if (!st && (memcmp(&shape, &n->shape, sizeof shape) || n_params != n->n_params ||
                n_state != n->n_state))
        st = cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                            "'%s' changes the layer's shape or sizes", args);
    if (st) {
        free(n->params);
        n->params = old;
        n->shape = shape, n->n_params = n_params, n->n_state = n_state;
        return st;
    }
    free(old);
    unprepare(net);
    return CNN_STATUS_OK;
}

void cnn_net_free(cnn_net *net) {
    if (!net) return;
    unprepare(net);
    cnn_workers_free(net->workers);
    cnn_free(net->prof);
    for (int i = 0; i < net->n_nodes; i++) {
        free(net->nodes[i]->params);
        free(net->nodes[i]);
    }
    free(net->nodes);
    cnn_free(net->name_index);
    cnn_free(net->auto_next);
    if (!net->replica) {
        cnn_free(net->params);
        cnn_free(net->grads);
        cnn_free(net->state);
    }
    cnn_prep_clear(&net->prep);
    free(net);
}

const char *cnn_net_last_error(const cnn_net *net) { return net ? net->err : "no network"; }

void cnn_net_set_log(cnn_net *net, cnn_log_fn fn, void *user) {
    net->log = fn;
    net->log_user = user;
}

cnn_status cnn_net_set_threads(cnn_net *net, int threads) {
    if (threads < 1 || threads > 1024)
        return cnn_error(net, CNN_STATUS_INVALID_ARGUMENT,
                         "threads must be between 1 and 1024, got %d", threads);
    if (threads != net->threads) {
        cnn_workers_free(net->workers);
        net->workers = NULL;
    }
    if (threads != net->threads && net->max_batch) {
        /* Scratch is sized per thread: plan again for the new count. */
        int mb = net->max_batch;
        unprepare(net);
        net->threads = threads;
        return cnn_net_prepare(net, mb);
    }
    net->threads = threads;
    return CNN_STATUS_OK;
}

int cnn_net_threads(const cnn_net *net) { return net->threads; }

int cnn_net_output_layer(const cnn_net *net) { return net->output; }

cnn_workers *cnn_net_workers(cnn_net *net) { return net->workers; }

void cnn_net_get_rng(const cnn_net *net, uint64_t state[4]) {
    memcpy(state, net->rng.s, sizeof net->rng.s);
}

void cnn_net_set_rng(cnn_net *net, const uint64_t state[4]) {
    memcpy(net->rng.s, state, sizeof net->rng.s);
}
void cnn_net_set_reference(cnn_net *net, int reference) { net->reference = reference != 0; }
/* Layers whose backward depends on the mode (batch norm, dropout) record the mode of their
 * forward, so a backward after a switch still differentiates the forward that ran. */
void cnn_net_set_training(cnn_net *net, int training) { net->training = training != 0; }
int cnn_net_training(const cnn_net *net) { return net->training; }

/* ---------------------------------------------------------------------------------------------
 * Building
 * ------------------------------------------------------------------------------------------- */

/* FNV-1a: names are short, and any spread will do for linear probing. */
static size_t name_hash(const char *s) {
    uint64_t h = 1469598103934665603u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211u;
    return (size_t)h;
}

/* The slot of name in the index: the one holding it, or the empty one where it would go. */
static size_t name_slot(const cnn_net *net, const char *name) {
    size_t mask = (size_t)net->name_slots - 1, i = name_hash(name) & mask;
    while (net->name_index[i] && strcmp(net->nodes[net->name_index[i] - 1]->name, name) != 0)
        i = (i + 1) & mask;
    return i;
}

int cnn_net_find(const cnn_net *net, const char *name) {
    if (!net->name_index) return -1;
    return net->name_index[name_slot(net, name)] - 1;
}

/* Grows the nodes array to cap layers and the name index to 2 * cap slots (a power of two,
 * so at most half full), moving every name; the network is unchanged on failure. */
static int grow_layers(cnn_net *net, int cap) {
    if (cap <= net->cap_nodes) return 1;
    int slots = 16;
    while (slots < 2 * cap) slots *= 2;
    cnn_node **nodes = cnn_realloc(net->nodes, (size_t)cap * sizeof *nodes);
    if (!nodes) return 0;
    net->nodes = nodes;
    int *index = cnn_calloc((size_t)slots, sizeof *index);
    if (!index) return 0;
    cnn_free(net->name_index);
    net->name_index = index;
    net->name_slots = slots;
    for (int i = 0; i < net->n_nodes; i++) index[name_slot(net, nodes[i]->name)] = i + 1;
    net->cap_nodes = cap;
    return 1;
}

cnn_status cnn_net_reserve_layers(cnn_net *net, int layers) {
    if (layers < 0 || layers > INT_MAX / 4)
        return cnn_error(net, CNN_STATUS_INVALID_ARGUMENT, "cannot hold %d layers", layers);
    if (!grow_layers(net, layers))
        return cnn_error(net, CNN_STATUS_NO_MEMORY, "out of memory for %d layers", layers);
    return CNN_STATUS_OK;
}

/* The automatic name of a new layer of type t: "type_K" for the first K that is free. */
static cnn_status auto_name(cnn_net *net, const cnn_layer_type *t, char *name, size_t size) {
    int k = 0;
    while (cnn_layer_at(k) != t) k++;
    if (!net->auto_next && !(net->auto_next = cnn_calloc((size_t)cnn_layer_count(), sizeof(int))))
        return cnn_error(net, CNN_STATUS_NO_MEMORY, "out of memory adding a layer");
    int *next = &net->auto_next[k];
    if (*next < 1) *next = 1;
    for (;; ++*next) {
        snprintf(name, size, "%s_%d", t->name, *next);
        if (cnn_net_find(net, name) < 0) return CNN_STATUS_OK;
    }
}

/* buf + off into a flat buffer, which is NULL while the network has no parameters (or no
 * state): NULL + 0 is undefined in C. */
static float *view(float *buf, size_t off) { return buf ? buf + off : NULL; }

static int valid_name(const char *s) {
    if (!*s || strlen(s) >= CNN_NAME_MAX) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '.' || *s == '-'))
            return 0;
    return 1;
}

/* Makes room for `need` elements in a flat buffer of capacity *cap holding `used`, doubling so
 * that building a network of L layers copies O(total) floats, not O(L x total), and zeroes
 * elements [used, need). The room beyond `need` is left untouched: a big buffer's pages are
 * then never written until a layer takes them (VGG-16 was built in 14 s, most of it clearing
 * the half of its 2 x 1 GB of parameters and gradients no layer would use). Returns 0 when
 * memory runs out (the buffer is then unchanged). */
static int reserve(float **buf, size_t *cap, size_t used, size_t need) {
    if (need > *cap) {
        size_t new_cap = *cap ? *cap : 1024;
        while (new_cap < need) new_cap *= 2;
        float *q = cnn_alloc(new_cap * sizeof *q);
        if (!q) return 0;
        if (used) memcpy(q, *buf, used * sizeof *q);
        cnn_free(*buf);
        *buf = q;
        *cap = new_cap;
    }
    if (need > used) memset(*buf + used, 0, (need - used) * sizeof **buf);
    return 1;
}

/* What is wrong with a layer's output shape (NULL: nothing): kernels index a sample with int,
 * and a hostile shape (2^21 x 2^21 x 2^22) would wrap a size_t count to 0. */
static const char *shape_problem(const cnn_shape *s) {
    size_t n = 1;
    for (int i = 0; i < s->rank; i++) {
        if (s->dim[i] < 1) return "has a size below 1";
        if ((size_t)s->dim[i] > INT_MAX / n) return "holds more than 2147483647 values per sample";
        n *= (size_t)s->dim[i];
    }
    return NULL;
}

/* Resolves the comma-separated input names of n. */
static cnn_status resolve_inputs(cnn_net *net, cnn_node *n, const char *inputs) {
    if (!inputs || !*inputs) {
        if (n->type->min_inputs == 0) return CNN_STATUS_OK;
        if (net->n_nodes == 0)
            return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                                  "has no input: add an 'input' layer first");
        n->in[n->n_in++] = net->nodes[net->n_nodes - 1];
        return CNN_STATUS_OK;
    }
    if (n->type->max_inputs == 0)
        return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT, "takes no inputs");
    const char *s = inputs;
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        while (len && *s == ' ') s++, len--;
        while (len && s[len - 1] == ' ') len--;
        char name[CNN_NAME_MAX];
        if (len == 0 || len >= sizeof name)
            return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                                  "bad input list '%s': expected names separated by commas",
                                  inputs);
        memcpy(name, s, len);
        name[len] = 0;
        int idx = cnn_net_find(net, name);
        if (idx < 0)
            return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                                  "input '%s' is not an earlier layer", name);
        if (n->n_in == CNN_MAX_INPUTS)
            return cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                                  "more than %d inputs", CNN_MAX_INPUTS);
        n->in[n->n_in++] = net->nodes[idx];
        if (!comma) break;
        s = comma + 1;
    }
    return CNN_STATUS_OK;
}

cnn_status cnn_add(cnn_net *net, const char *type, const char *name, const char *inputs,
                   const char *args) {
    int col;
    return cnn_add_at(net, type, name, inputs, args, &col);
}

cnn_status cnn_add_at(cnn_net *net, const char *type, const char *name, const char *inputs,
                      const char *args, int *err_col) {
    *err_col = -1;
    if (!type) return cnn_error(net, CNN_STATUS_INVALID_ARGUMENT, "layer type is NULL");
    const cnn_layer_type *t = cnn_layer_find(type);
    if (!t) {
        char list[1024];
        size_t off = 0;
        list[0] = 0;
        for (int i = 0; i < cnn_layer_count() && off < sizeof list; i++)
            off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", i ? ", " : "",
                                    cnn_layer_at(i)->name);
        return cnn_error(net, CNN_STATUS_INVALID_ARGUMENT,
                         "unknown layer type '%s' (known types: %s)", type, list);
    }
    cnn_node *n = cnn_calloc(1, sizeof *n);
    if (!n) return cnn_error(net, CNN_STATUS_NO_MEMORY, "out of memory adding a layer");
    n->type = t;
    n->index = net->n_nodes;
    if (name) {
        if (!valid_name(name)) {
            free(n);
            return cnn_error(net, CNN_STATUS_INVALID_ARGUMENT,
                             "%s: bad layer name '%s': use 1 to %d letters, digits, '_', '.' "
                             "or '-'", type, name, CNN_NAME_MAX - 1);
        }
        snprintf(n->name, sizeof n->name, "%s", name);
    }
    cnn_status st = CNN_STATUS_OK;
    if (!name && (st = auto_name(net, t, n->name, sizeof n->name))) goto fail;
    if (cnn_net_find(net, n->name) >= 0) {
        st = cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT, "the name is already taken");
        goto fail;
    }
    if ((st = resolve_inputs(net, n, inputs))) goto fail;
    if (n->n_in < t->min_inputs || n->n_in > t->max_inputs) {
        if (t->min_inputs == t->max_inputs)
            st = cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                                "takes exactly %d input%s, got %d", t->min_inputs,
                                t->min_inputs == 1 ? "" : "s", n->n_in);
        else
            st = cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                                "takes %d to %d inputs, got %d", t->min_inputs, t->max_inputs,
                                n->n_in);
        goto fail;
    }
    n->params = cnn_calloc(1, t->params_size ? t->params_size : 1);
    if (!n->params) {
        st = cnn_error(net, CNN_STATUS_NO_MEMORY, "out of memory adding a layer");
        goto fail;
    }
    char msg[768];
    if (cnn_fields_parse(t->fields, n->params, args, msg, sizeof msg, err_col)) {
        st = cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT, "%s", msg);
        goto fail;
    }
    *err_col = -1;
    if ((st = t->setup(net, n))) goto fail;
    const char *bad_shape = shape_problem(&n->shape);
    if (bad_shape) {
        char sh[64];
        st = cnn_node_error(net, n, CNN_STATUS_SHAPE, "output shape %s %s",
                            cnn_shape_str(&n->shape, sh, sizeof sh), bad_shape);
        goto fail;
    }
    if (t->min_inputs == 0 && net->n_inputs == CNN_MAX_INPUTS) {
        st = cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT, "more than %d input layers",
                            CNN_MAX_INPUTS);
        goto fail;
    }
    if (net->n_nodes == INT_MAX / 4) {
        st = cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT, "more than %d layers",
                            INT_MAX / 4);
        goto fail;
    }
    if (net->n_nodes == net->cap_nodes &&
        !grow_layers(net, net->cap_nodes ? 2 * net->cap_nodes : 16)) {
        st = cnn_error(net, CNN_STATUS_NO_MEMORY, "out of memory adding a layer");
        goto fail;
    }
    /* Sizes a layer computes from hostile hyper-parameters may be anything: the totals stay
     * below CNN_MAX_VALUES, so that no byte count derived from them overflows. */
    if (n->n_params > CNN_MAX_VALUES - net->n_params || n->n_state > CNN_MAX_VALUES - net->n_state) {
        st = cnn_node_error(net, n, CNN_STATUS_INVALID_ARGUMENT,
                            "%zu parameters and %zu state values: the network would have more "
                            "than %zu", n->n_params, n->n_state, (size_t)CNN_MAX_VALUES);
        goto fail;
    }
    /* The flat buffers grow by this layer's slice; everything already there is kept (also
     * when a later one runs out of memory). A deferred network only counts. */
    if (!net->defer_params &&
        (!reserve(&net->params, &net->cap_params, net->n_params, net->n_params + n->n_params) ||
         (net->grads && /* made at the first need (cnn_net_need_grads), then kept in step */
          !reserve(&net->grads, &net->cap_grads, net->n_params, net->n_params + n->n_params)) ||
         !reserve(&net->state, &net->cap_state, net->n_state, net->n_state + n->n_state))) {
        st = cnn_error(net, CNN_STATUS_NO_MEMORY, "out of memory for %zu parameters",
                       net->n_params + n->n_params);
        goto fail;
    }
    n->param_off = net->n_params;
    n->state_off = net->n_state;
    net->n_params += n->n_params;
    net->n_state += n->n_state;
    if (t->init && !net->defer_params)
        t->init(n, view(net->params, n->param_off), view(net->state, n->state_off), &net->rng);
    if (t->min_inputs == 0) net->inputs[net->n_inputs++] = n->index;
    net->name_index[name_slot(net, n->name)] = n->index + 1;
    net->nodes[net->n_nodes++] = n;
    net->output = n->index;
    unprepare(net);
    return CNN_STATUS_OK;
fail:
    free(n->params);
    free(n);
    return st;
}

cnn_status cnn_net_set_output(cnn_net *net, const char *name) {
    int i = cnn_net_find(net, name);
    if (i < 0) return cnn_error(net, CNN_STATUS_INVALID_ARGUMENT, "no layer named '%s'", name);
    net->output = i;
    net->forward_done = 0;
    return CNN_STATUS_OK;
}

int cnn_net_layer_count(const cnn_net *net) { return net->n_nodes; }

static const cnn_node *node_at(const cnn_net *net, int layer) {
    CNN_ASSERT(layer >= 0 && layer < net->n_nodes);
    return net->nodes[layer];
}

const char *cnn_net_layer_name(const cnn_net *net, int layer) { return node_at(net, layer)->name; }
const char *cnn_net_layer_type(const cnn_net *net, int layer) {
    return node_at(net, layer)->type->name;
}
cnn_shape cnn_net_layer_shape(const cnn_net *net, int layer) { return node_at(net, layer)->shape; }
size_t cnn_net_layer_param_count(const cnn_net *net, int layer) {
    return node_at(net, layer)->n_params;
}
size_t cnn_net_layer_param_offset(const cnn_net *net, int layer) {
    return node_at(net, layer)->param_off;
}
size_t cnn_net_layer_state_offset(const cnn_net *net, int layer) {
    return node_at(net, layer)->state_off;
}
size_t cnn_net_layer_state_count(const cnn_net *net, int layer) {
    return node_at(net, layer)->n_state;
}
int cnn_net_layer_args(const cnn_net *net, int layer, char *buf, size_t size) {
    const cnn_node *n = node_at(net, layer);
    return cnn_fields_print(n->type->fields, n->params, buf, size, 0);
}

uint64_t cnn_net_layer_macs(const cnn_net *net, int layer) {
    const cnn_node *n = node_at(net, layer);
    return n->type->macs ? n->type->macs(n) : 0;
}

uint64_t cnn_net_macs(const cnn_net *net) {
    uint64_t total = 0;
    for (int i = 0; i < net->n_nodes; i++) total += cnn_net_layer_macs(net, i);
    return total;
}

size_t cnn_net_activation_bytes(const cnn_net *net) {
    size_t total = 0;
    for (int i = 0; i < net->n_nodes; i++) total += cnn_node_numel(net->nodes[i]) * sizeof(float);
    return total;
}

int cnn_net_layer_input_count(const cnn_net *net, int layer) { return node_at(net, layer)->n_in; }

int cnn_net_layer_input(const cnn_net *net, int layer, int i) {
    const cnn_node *n = node_at(net, layer);
    CNN_ASSERT(i >= 0 && i < n->n_in);
    return n->in[i]->index;
}
int cnn_net_input_count(const cnn_net *net) { return net->n_inputs; }
cnn_shape cnn_net_input_shape(const cnn_net *net, int input) {
    CNN_ASSERT(input >= 0 && input < net->n_inputs);
    return net->nodes[net->inputs[input]]->shape;
}
cnn_shape cnn_net_output_shape(const cnn_net *net) {
    cnn_shape none = {0};
    return net->output >= 0 ? net->nodes[net->output]->shape : none;
}

size_t cnn_net_param_count(const cnn_net *net) { return net->n_params; }
float *cnn_net_params(cnn_net *net) {
    net->weights_gen++; /* the caller may write through it */
    return net->params;
}
float *cnn_net_grads(cnn_net *net) { return cnn_net_need_grads(net) ? NULL : net->grads; }
size_t cnn_net_state_count(const cnn_net *net) { return net->n_state; }
float *cnn_net_state(cnn_net *net) {
    net->weights_gen++;
    return net->state;
}

void cnn_net_zero_grad(cnn_net *net) {
    /* Without the buffer there is nothing to clear: it starts zeroed when it is made. */
    if (net->n_params && net->grads) memset(net->grads, 0, net->n_params * sizeof *net->grads);
}

cnn_status cnn_net_alloc_params(cnn_net *net) {
    CNN_ASSERT(net->defer_params && !net->params && !net->state);
    size_t np = net->n_params, ns = net->n_state;
    net->params = np ? cnn_calloc(np, sizeof(float)) : NULL;
    net->state = ns ? cnn_calloc(ns, sizeof(float)) : NULL;
    if ((np && !net->params) || (ns && !net->state)) {
        cnn_free(net->params);
        cnn_free(net->state);
        net->params = net->state = NULL;
        return cnn_error(net, CNN_STATUS_NO_MEMORY,
                         "out of memory for %zu parameters and %zu state values", np, ns);
    }
    net->cap_params = np;
    net->cap_state = ns;
    net->defer_params = 0;
    return CNN_STATUS_OK;
}

void cnn_net_init_params(cnn_net *net, uint64_t seed) {
    net->weights_gen++; /* new weights: what layers made from the old ones is stale */
    cnn_rng_seed(&net->rng, seed);
    for (int i = 0; i < net->n_nodes; i++) {
        cnn_node *n = net->nodes[i];
        if (n->type->init)
            n->type->init(n, net->params + n->param_off, net->state + n->state_off, &net->rng);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Memory planning and running
 * ------------------------------------------------------------------------------------------- */

static size_t align_up(size_t x) { return (x + CNN_ALIGN - 1) / CNN_ALIGN * CNN_ALIGN; }

cnn_status cnn_net_prepare(cnn_net *net, int max_batch) {
    if (max_batch < 1)
        return cnn_error(net, CNN_STATUS_INVALID_ARGUMENT, "batch must be at least 1, got %d",
                         max_batch);
    if (net->n_nodes == 0 || net->n_inputs == 0)
        return cnn_error(net, CNN_STATUS_STATE, "the network has no input layer");
    unprepare(net);
    size_t total = 0;
    cnn_work work = {0, 0};
    for (int i = 0; i < net->n_nodes; i++) {
        const cnn_node *n = net->nodes[i];
        if (cnn_node_numel(n) > SIZE_MAX / 4 / sizeof(float) / (size_t)max_batch)
            return cnn_error(net, CNN_STATUS_NO_MEMORY,
                             "layer '%s': %zu values per sample times batch %d do not fit in "
                             "memory", n->name, cnn_node_numel(n), max_batch);
        size_t act = align_up((size_t)max_batch * cnn_node_numel(n) * sizeof(float));
        total += 2 * act;
        if (n->type->saved_bytes) total += align_up(n->type->saved_bytes(n, max_batch));
        if (n->type->work_bytes)
            work = cnn_work_max(work, n->type->work_bytes(n, max_batch));
    }
    /* Each thread's part on pages of its own (see cnn_work). */
    size_t stride = whole_pages(work.each), shared = whole_pages(work.shared);
    if (stride && (size_t)net->threads > (SIZE_MAX - shared) / stride)
        return cnn_error(net, CNN_STATUS_NO_MEMORY,
                         "%d threads' scratch of %zu bytes each do not fit in memory",
                         net->threads, work.each);
    net->arena = cnn_alloc(total);
    net->work = cnn_alloc(shared + (size_t)net->threads * stride);
    if (!net->arena || !net->work) {
        unprepare(net);
        return cnn_error(net, CNN_STATUS_NO_MEMORY,
                         "out of memory planning %zu bytes of activations for batch %d", total,
                         max_batch);
    }
    /* The threads start here, where a failure can be reported, not at the first pass. */
    if (net->threads > 1 && !net->workers && !(net->workers = cnn_workers_new(net->threads))) {
        unprepare(net);
        return cnn_error(net, CNN_STATUS_NO_MEMORY,
                         "cannot start %d threads: out of memory or of threads", net->threads);
    }
    cnn_workers_set_stats(net->workers, net->profiling);
    memset(net->arena, 0, total);
    net->work_size = work.shared;
    net->thread_work_size = work.each;
    net->thread_stride = stride;
    char *p = net->arena;
    for (int i = 0; i < net->n_nodes; i++) {
        cnn_node *n = net->nodes[i];
        size_t act = align_up((size_t)max_batch * cnn_node_numel(n) * sizeof(float));
        n->y = (float *)p;
        p += act;
        n->dy = (float *)p;
        p += act;
        n->saved = NULL;
        if (n->type->saved_bytes) {
            n->saved = p;
            p += align_up(n->type->saved_bytes(n, max_batch));
        }
    }
    net->max_batch = max_batch;
    return CNN_STATUS_OK;
}

cnn_status cnn_net_replica(cnn_net *net, int max_batch, cnn_net **out) {
    *out = NULL;
    char *text = cnn_net_to_text(net), err[1024];
    if (!text) return cnn_error(net, CNN_STATUS_NO_MEMORY, "out of memory copying the network");
    cnn_net *rep = NULL;
    cnn_status st = cnn_net_plan_text(text, "replica", &rep, err, sizeof err);
    free(text);
    if (st) return cnn_error(net, st, "copying the network: %s", err);
    /* The text names every layer and its inputs; the output is the last layer unless set. */
    CNN_ASSERT(rep->n_nodes == net->n_nodes && rep->n_params == net->n_params &&
               rep->n_state == net->n_state);
    rep->output = net->output;
    rep->defer_params = 0;
    rep->replica = 1;
    rep->threads = 1;
    cnn_net_replica_bind(rep, net, NULL);
    if ((st = cnn_net_prepare(rep, max_batch))) {
        cnn_error(net, st, "%s", rep->err);
        cnn_net_free(rep);
        return st;
    }
    *out = rep;
    return CNN_STATUS_OK;
}

void cnn_net_replica_bind(cnn_net *rep, const cnn_net *net, float *grads) {
    CNN_ASSERT(rep->replica && rep->n_params == net->n_params);
    rep->params = net->params;
    rep->state = net->state;
    rep->grads = grads;
    rep->reference = net->reference;
    rep->training = net->training;
    rep->no_input_grads = net->no_input_grads;
}

int cnn_net_whole_batch_layer(const cnn_net *net) {
    for (int i = 0; i < net->n_nodes; i++)
        if (net->nodes[i]->type->whole_batch) return i;
    return -1;
}

static void bind_views(cnn_net *net) {
    for (int i = 0; i < net->n_nodes; i++) {
        cnn_node *n = net->nodes[i];
        n->w = view(net->params, n->param_off);
        n->dw = view(net->grads, n->param_off);
        n->s = view(net->state, n->state_off);
    }
}

cnn_status cnn_net_need_grads(cnn_net *net) {
    if (net->grads || !net->n_params) return CNN_STATUS_OK;
    if (net->replica || net->defer_params)
        return cnn_error(net, CNN_STATUS_STATE, "gradients of a network without parameter "
                         "memory (a replica not bound, or a network still being planned)");
    if (!(net->grads = cnn_calloc(net->n_params, sizeof *net->grads)))
        return cnn_error(net, CNN_STATUS_NO_MEMORY, "out of memory for the gradients of %zu "
                         "parameters", net->n_params);
    net->cap_grads = net->n_params;
    bind_views(net);
    return CNN_STATUS_OK;
}

void cnn_net_set_backward_hook(cnn_net *net, cnn_layer_done_fn fn, void *user) {
    net->layer_done = fn;
    net->layer_done_user = user;
}

void cnn_net_set_batch_sync(cnn_net *net, const cnn_batch_sync *sync) {
    net->sync = sync ? *sync : (cnn_batch_sync){0};
}

void cnn_batch_sync_sum(cnn_batch_sync *sync, double *values, size_t count) {
    if (sync->status) return;
    sync->status = sync->sum(sync->user, values, count, sync->err, sizeof sync->err);
}

/* The end of a pass: a failed sum over the ranks is the pass's error. */
static cnn_status sync_status(cnn_net *net) {
    if (!net->sync.status) return CNN_STATUS_OK;
    cnn_status st = net->sync.status;
    net->sync.status = CNN_STATUS_OK;
    return cnn_error(net, st, "batch norm's statistics over the ranks: %s", net->sync.err);
}

cnn_ctx cnn_net_ctx(cnn_net *net) {
    cnn_ctx c = {.net = net,
                 .batch = net->batch,
                 .training = net->training,
                 .threads = net->threads,
                 .workers = cnn_net_workers(net),
                 .reference = net->reference,
                 .work = net->work,
                 .work_size = net->work_size,
                 .thread_work = (char *)net->work + whole_pages(net->work_size),
                 .thread_work_size = net->thread_work_size,
                 .thread_stride = net->thread_stride,
                 .rng = &net->rng,
                 .sync = net->sync.sum && net->training ? &net->sync : NULL};
    return c;
}

cnn_status cnn_net_forward_multi(cnn_net *net, const float *const *xs, int n_inputs, int batch) {
    if (!net->max_batch)
        return cnn_error(net, CNN_STATUS_STATE, "forward before cnn_net_prepare");
    if (batch < 1 || batch > net->max_batch)
        return cnn_error(net, CNN_STATUS_INVALID_ARGUMENT,
                         "batch %d is outside 1..%d (the prepared batch)", batch, net->max_batch);
    if (n_inputs != net->n_inputs)
        return cnn_error(net, CNN_STATUS_INVALID_ARGUMENT,
                         "the network has %d input layers, %d arrays given", net->n_inputs,
                         n_inputs);
    for (int i = 0; i < n_inputs; i++) {
        if (!xs[i]) return cnn_error(net, CNN_STATUS_INVALID_ARGUMENT, "input %d is NULL", i);
        cnn_node *in = net->nodes[net->inputs[i]];
        memcpy(in->y, xs[i], (size_t)batch * cnn_node_numel(in) * sizeof(float));
    }
    bind_views(net);
    net->batch = batch;
    cnn_ctx c = cnn_net_ctx(net);
    for (int i = 0; i < net->n_nodes; i++) {
        cnn_node *n = net->nodes[i];
        cnn_status st = n->type->check ? n->type->check(net, n, batch) : CNN_STATUS_OK;
        if (st) return st;
        cnn_prof_mark m;
        cnn_prof_begin(net, &m);
        if (n->type->forward) n->type->forward(n, &c);
        cnn_prof_end(net, i, 0, &m);
        if ((st = sync_status(net))) return st;
    }
    net->forward_done = 1;
    return CNN_STATUS_OK;
}

cnn_status cnn_net_forward(cnn_net *net, const float *x, int batch) {
    return cnn_net_forward_multi(net, &x, 1, batch);
}

const float *cnn_net_output(const cnn_net *net) {
    return net->max_batch ? net->nodes[net->output]->y : NULL;
}

float *cnn_net_output_grad(cnn_net *net) {
    return net->max_batch ? net->nodes[net->output]->dy : NULL;
}

/* Clears n floats, split over the threads in parts of 64K floats when there are many. */
typedef struct zero_job {
    float *p;
    size_t n;
} zero_job;

#define ZERO_PART ((size_t)1 << 16)

static void zero_parts(void *arg, long begin, long end, int worker) {
    const zero_job *z = arg;
    for (long i = begin; i < end; i++) {
        size_t off = (size_t)i * ZERO_PART, len = z->n - off < ZERO_PART ? z->n - off : ZERO_PART;
        memset(z->p + off, 0, len * sizeof *z->p);
    }
}

static void zero_floats(const cnn_ctx *c, float *p, size_t n) {
    zero_job z = {p, n};
    cnn_parallel_for(c->workers, c->threads, (long)((n + ZERO_PART - 1) / ZERO_PART), zero_parts, &z);
}

/* Back-propagates from node `from`, whose dy holds the seed. */
static void backward_from(cnn_net *net, int from, cnn_backprop_rule rule) {
    cnn_ctx c = cnn_net_ctx(net);
    c.guided = rule == CNN_BACKPROP_GUIDED;
    /* Layers add into their inputs' gradients. A gradient's first writer in this pass writes it
     * when its layer can (writes_fresh); otherwise the gradient is cleared just before. Layers
     * after `from` do not affect it and are skipped. */
    for (int i = 0; i < from; i++) net->nodes[i]->dy_written = 0;
    net->nodes[from]->dy_written = 1;
    for (int i = from; i >= 0; i--) {
        cnn_node *n = net->nodes[i];
        if (net->layer_done && i < from) net->layer_done(net->layer_done_user, i + 1);
        if (!n->type->backward) continue;
        c.skip_dx = net->no_input_grads;
        for (int k = 0; k < n->n_in; k++) c.skip_dx &= n->in[k]->type->min_inputs == 0;
        c.fresh = 0;
        cnn_prof_mark m;
        cnn_prof_begin(net, &m);
        for (int k = 0; k < n->n_in && !c.skip_dx; k++) {
            cnn_node *in = n->in[k];
            if (in->dy_written) continue;
            if (n->type->writes_fresh)
                c.fresh |= 1u << k;
            else
                zero_floats(&c, in->dy, (size_t)net->batch * cnn_node_numel(in));
            in->dy_written = 1;
        }
        n->type->backward(n, &c);
        cnn_prof_end(net, i, 1, &m);
    }
    if (net->layer_done) net->layer_done(net->layer_done_user, 0);
    /* Gradients nothing wrote (no path to `from`) are zero; those of input layers whose
     * gradient was not wanted are left as they are. */
    for (int i = 0; i < from; i++) {
        cnn_node *n = net->nodes[i];
        if (!n->dy_written && !(net->no_input_grads && n->type->min_inputs == 0))
            zero_floats(&c, n->dy, (size_t)net->batch * cnn_node_numel(n));
    }
}

void cnn_net_set_input_grads(cnn_net *net, int wanted) { net->no_input_grads = !wanted; }
int cnn_net_input_grads(const cnn_net *net) { return !net->no_input_grads; }

cnn_status cnn_net_backward(cnn_net *net) {
    if (!net->forward_done)
        return cnn_error(net, CNN_STATUS_STATE, "backward without a forward pass");
    cnn_status st = cnn_net_need_grads(net);
    if (st) return st;
    backward_from(net, net->output, CNN_BACKPROP_PLAIN);
    return sync_status(net);
}

cnn_status cnn_net_backward_from(cnn_net *net, int layer, const float *seed,
                                 cnn_backprop_rule rule) {
    if (!net->forward_done)
        return cnn_error(net, CNN_STATUS_STATE, "backward without a forward pass");
    if (layer < 0 || layer >= net->n_nodes)
        return cnn_error(net, CNN_STATUS_INVALID_ARGUMENT,
                         "backward from layer %d: the network has layers 0 to %d", layer,
                         net->n_nodes - 1);
    if (!seed) return cnn_error(net, CNN_STATUS_INVALID_ARGUMENT, "backward seed is NULL");
    if (rule != CNN_BACKPROP_PLAIN && rule != CNN_BACKPROP_GUIDED)
        return cnn_error(net, CNN_STATUS_INVALID_ARGUMENT, "unknown backprop rule %d",
                         (int)rule);
    cnn_status st = cnn_net_need_grads(net);
    if (st) return st;
    cnn_node *n = net->nodes[layer];
    /* memmove: the seed may be the layer's own gradient buffer. */
    memmove(n->dy, seed, (size_t)net->batch * cnn_node_numel(n) * sizeof(float));
    backward_from(net, layer, rule);
    return sync_status(net);
}

const float *cnn_net_layer_output(const cnn_net *net, int layer) {
    return net->max_batch ? node_at(net, layer)->y : NULL;
}
const float *cnn_net_layer_grad(const cnn_net *net, int layer) {
    return net->max_batch ? node_at(net, layer)->dy : NULL;
}
const float *cnn_net_input_grad(const cnn_net *net, int input) {
    CNN_ASSERT(input >= 0 && input < net->n_inputs);
    return net->max_batch ? net->nodes[net->inputs[input]]->dy : NULL;
}

cnn_status cnn_net_loss(cnn_net *net, cnn_loss kind, const void *target, float *loss) {
    if (!net->forward_done)
        return cnn_error(net, CNN_STATUS_STATE, "loss without a forward pass");
    if (!target) return cnn_error(net, CNN_STATUS_INVALID_ARGUMENT, "loss target is NULL");
    const cnn_node *out = net->nodes[net->output];
    size_t numel = cnn_node_numel(out);
    char sh[64];
    cnn_status st;
    switch (kind) {
    case CNN_LOSS_SOFTMAX_CE:
    case CNN_LOSS_PIXEL_CE: {
        int pixels = (int)(numel / (size_t)out->shape.dim[0]);
        if (kind == CNN_LOSS_SOFTMAX_CE && out->shape.rank != 1)
            return cnn_error(net, CNN_STATUS_SHAPE,
                             "softmax cross-entropy needs flat logits (K), but the output "
                             "'%s' is %s: use the per-pixel loss or flatten",
                             out->name, cnn_shape_str(&out->shape, sh, sizeof sh));
        if (kind == CNN_LOSS_PIXEL_CE && out->shape.rank < 2)
            return cnn_error(net, CNN_STATUS_SHAPE,
                             "per-pixel cross-entropy needs logits (K,H,W) or (K,L), but the "
                             "output '%s' is %s",
                             out->name, cnn_shape_str(&out->shape, sh, sizeof sh));
        st = cnn_loss_cross_entropy(out->y, target, net->batch, out->shape.dim[0], pixels, loss,
                                    out->dy);
        break;
    }
    case CNN_LOSS_MSE:
        st = cnn_loss_mse(out->y, target, (size_t)net->batch * numel, loss, out->dy);
        break;
    case CNN_LOSS_BCE_LOGITS:
        st = cnn_loss_bce_logits(out->y, target, (size_t)net->batch * numel, loss, out->dy);
        break;
    default: return cnn_error(net, CNN_STATUS_INVALID_ARGUMENT, "unknown loss %d", (int)kind);
    }
    if (st == CNN_STATUS_INVALID_ARGUMENT && kind == CNN_LOSS_BCE_LOGITS)
        return cnn_error(net, st, "loss target: a value is outside [0, 1]");
    if (st == CNN_STATUS_INVALID_ARGUMENT)
        return cnn_error(net, st, "loss target: a label is outside 0..%d", out->shape.dim[0] - 1);
    if (st == CNN_STATUS_NUMERIC)
        return cnn_error(net, st, "the loss is not finite: the output '%s' holds a NaN or an "
                         "infinity", out->name);
    if (st) return cnn_error(net, st, "loss: %s", cnn_status_str(st));
    return CNN_STATUS_OK;
}
