/*
 * params.c - a network's parameters and state as named tensors with PyTorch's shapes
 * (cnn_net_param_tensor, cnn_net_find_param) rather than offsets into the flat buffers.
 *
 * Each layer type describes its own tensors (the `tensors` operation of its ops table: name,
 * role, shape); here they are placed in the flat buffers. A layer's trainable tensors lie one
 * after the other from the start of its parameter slice, its state tensors from the start of
 * its state slice, each in the order the layer lists them; together they must fill the slices
 * exactly (checked: a layer that describes its tensors wrongly is a bug in that layer).
 */
#include "core/internal.h"

/* The layer's tensors, described by its type, placed in the flat buffers. */
static int layer_tensors(cnn_net *net, const cnn_node *n, cnn_param_tensor t[]) {
    /* A layer with parameters or state describes them: one that does not is a bug in its
     * file, not something to paper over with generic names. */
    CNN_ASSERT(n->type->tensors || (n->n_params == 0 && n->n_state == 0));
    int count = n->type->tensors ? n->type->tensors(n, t) : 0;
    CNN_ASSERT(count >= 0 && count <= CNN_LAYER_MAX_TENSORS);
    size_t at[2] = {n->param_off, n->state_off}; /* next offset of each role */
    for (int i = 0; i < count; i++) {
        cnn_param_tensor *p = &t[i];
        CNN_ASSERT(p->name && p->rank >= 1 && p->rank <= CNN_PARAM_MAX_RANK);
        CNN_ASSERT(p->role == CNN_PARAM_TRAINABLE || p->role == CNN_PARAM_STATE);
        p->layer = n->index;
        p->count = 1;
        for (int d = 0; d < CNN_PARAM_MAX_RANK; d++) {
            if (d >= p->rank) p->dims[d] = 0;
            else p->count *= (size_t)p->dims[d];
        }
        int state = p->role == CNN_PARAM_STATE;
        p->offset = at[state];
        at[state] += p->count;
        p->data = (state ? net->state : net->params) + p->offset;
        p->grad = state || !net->grads ? NULL : net->grads + p->offset;
    }
    CNN_ASSERT(at[0] == n->param_off + n->n_params && at[1] == n->state_off + n->n_state);
    return count;
}

int cnn_net_param_tensor_count(const cnn_net *net, int layer) {
    CNN_ASSERT(layer >= 0 && layer < net->n_nodes);
    cnn_param_tensor t[CNN_LAYER_MAX_TENSORS];
    /* Only the count is used: the cast lets the placement compute pointers it never writes
     * through. */
    return layer_tensors((cnn_net *)net, net->nodes[layer], t);
}

cnn_status cnn_net_param_tensor(cnn_net *net, int layer, int i, cnn_param_tensor *t) {
    if (layer < 0 || layer >= net->n_nodes)
        return cnn_error(net, CNN_STATUS_INVALID_ARGUMENT,
                         "no layer %d: the network has %d", layer, net->n_nodes);
    const cnn_node *n = net->nodes[layer];
    cnn_param_tensor all[CNN_LAYER_MAX_TENSORS];
    int count = layer_tensors(net, n, all);
    if (i < 0 || i >= count)
        return cnn_error(net, CNN_STATUS_INVALID_ARGUMENT,
                         "%s '%s' has %d tensors, no tensor %d", n->type->name, n->name, count,
                         i);
    *t = all[i];
    net->weights_gen++; /* the caller may write through t->data, as through cnn_net_params */
    return CNN_STATUS_OK;
}

cnn_status cnn_net_find_param(cnn_net *net, const char *name, cnn_param_tensor *t) {
    if (!name) return cnn_error(net, CNN_STATUS_INVALID_ARGUMENT, "tensor name is NULL");
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name || !dot[1])
        return cnn_error(net, CNN_STATUS_INVALID_ARGUMENT,
                         "bad tensor name '%s': expected layer.tensor, e.g. conv1.weight", name);
    size_t len = (size_t)(dot - name);
    char layer_name[CNN_NAME_MAX];
    int layer = -1;
    if (len < sizeof layer_name) {
        memcpy(layer_name, name, len);
        layer_name[len] = '\0';
        layer = cnn_net_find(net, layer_name);
    }
    if (layer < 0)
        return cnn_error(net, CNN_STATUS_INVALID_ARGUMENT, "no layer named '%.*s' (for '%s')",
                         (int)(len < 256 ? len : 256), name, name);
    const cnn_node *n = net->nodes[layer];
    cnn_param_tensor all[CNN_LAYER_MAX_TENSORS];
    int count = layer_tensors(net, n, all);
    char have[256] = "";
    size_t used = 0;
    for (int i = 0; i < count; i++) {
        if (strcmp(all[i].name, dot + 1) == 0) {
            *t = all[i];
            net->weights_gen++; /* as cnn_net_param_tensor */
            return CNN_STATUS_OK;
        }
        int w = snprintf(have + used, sizeof have - used, "%s%s", i ? ", " : "", all[i].name);
        if (w > 0 && (size_t)w < sizeof have - used) used += (size_t)w;
    }
    return cnn_error(net, CNN_STATUS_INVALID_ARGUMENT, "%s '%s' has no tensor '%s' (%s%s)",
                     n->type->name, n->name, dot + 1, count ? "it has: " : "it has none",
                     have);
}
