/*
 * model_write.c - an onnx_model (model.h) to the bytes of an ONNX file. Field numbers are
 * those of onnx.proto (Debian's libonnx-dev ships it as /usr/include/onnx/onnx.proto).
 */
#include "model.h"

#include "pb.h"

#include <string.h>

/* Tensor data goes out as raw_data, little-endian (the byte order of every host cnn builds
 * on, x86-64). */
static void write_tensor(pb_out *o, uint32_t number, const onnx_tensor *t) {
    size_t mark = pb_begin(o);
    pb_put_packed_int64(o, 1, t->dims, (size_t)t->rank);
    pb_put_varint_field(o, 2, (uint64_t)t->data_type);
    if (t->name && *t->name) pb_put_string_field(o, 8, t->name);
    if (t->data_type == ONNX_FLOAT)
        pb_put_bytes_field(o, 9, t->f, t->count * sizeof *t->f);
    else
        pb_put_bytes_field(o, 9, t->i, t->count * sizeof *t->i); /* INT64 */
    pb_end(o, number, mark);
}

static void write_attr(pb_out *o, const onnx_attr *a) {
    size_t mark = pb_begin(o);
    pb_put_string_field(o, 1, a->name);
    switch (a->type) {
    case ONNX_ATTR_FLOAT: pb_put_float_field(o, 2, a->f); break;
    case ONNX_ATTR_INT: pb_put_varint_field(o, 3, (uint64_t)a->i); break;
    case ONNX_ATTR_STRING: pb_put_string_field(o, 4, a->s); break;
    case ONNX_ATTR_TENSOR: write_tensor(o, 5, a->t); break;
    case ONNX_ATTR_INTS:
        for (size_t k = 0; k < a->n; k++) pb_put_varint_field(o, 8, (uint64_t)a->ints[k]);
        break;
    case ONNX_ATTR_FLOATS:
        for (size_t k = 0; k < a->n; k++) pb_put_float_field(o, 7, a->floats[k]);
        break;
    default: CNN_ASSERT(!"an attribute type the writer does not know");
    }
    pb_put_varint_field(o, 20, (uint64_t)a->type);
    pb_end(o, 5, mark);
}

static void write_node(pb_out *o, const onnx_node *n) {
    size_t mark = pb_begin(o);
    for (int k = 0; k < n->n_inputs; k++) pb_put_string_field(o, 1, n->inputs[k]);
    for (int k = 0; k < n->n_outputs; k++) pb_put_string_field(o, 2, n->outputs[k]);
    pb_put_string_field(o, 3, n->name);
    pb_put_string_field(o, 4, n->op_type);
    for (int k = 0; k < n->n_attrs; k++) write_attr(o, &n->attrs[k]);
    pb_end(o, 1, mark);
}

/* ValueInfoProto with TypeProto.tensor_type; a dim of -1 is written as the name "N". */
static void write_value(pb_out *o, uint32_t number, const onnx_value *v) {
    size_t mark = pb_begin(o);
    pb_put_string_field(o, 1, v->name);
    size_t type = pb_begin(o);
    size_t tensor = pb_begin(o);
    pb_put_varint_field(o, 1, (uint64_t)v->elem_type);
    if (v->rank >= 0) {
        size_t shape = pb_begin(o);
        for (int d = 0; d < v->rank; d++) {
            size_t dim = pb_begin(o);
            if (v->dims[d] >= 0)
                pb_put_varint_field(o, 1, (uint64_t)v->dims[d]);
            else
                pb_put_string_field(o, 2, "N");
            pb_end(o, 1, dim);
        }
        pb_end(o, 2, shape);
    }
    pb_end(o, 1, tensor);
    pb_end(o, 2, type);
    pb_end(o, number, mark);
}

uint8_t *onnx_model_write(const onnx_model *m, size_t *size) {
    pb_out o = {0};
    pb_put_varint_field(&o, 1, (uint64_t)m->ir_version);
    pb_put_string_field(&o, 2, m->producer_name);
    pb_put_string_field(&o, 3, m->producer_version);
    size_t graph = pb_begin(&o);
    for (int k = 0; k < m->n_nodes; k++) write_node(&o, &m->nodes[k]);
    pb_put_string_field(&o, 2, m->graph_name);
    for (int k = 0; k < m->n_inits; k++) write_tensor(&o, 5, &m->inits[k]);
    for (int k = 0; k < m->n_inputs; k++) write_value(&o, 11, &m->inputs[k]);
    for (int k = 0; k < m->n_outputs; k++) write_value(&o, 12, &m->outputs[k]);
    pb_end(&o, 7, graph);
    size_t opset = pb_begin(&o);
    pb_put_string_field(&o, 1, "");
    pb_put_varint_field(&o, 2, (uint64_t)m->opset);
    pb_end(&o, 8, opset);
    for (int k = 0; k < m->n_meta; k++) {
        size_t entry = pb_begin(&o);
        pb_put_string_field(&o, 1, m->meta_keys[k]);
        pb_put_string_field(&o, 2, m->meta_values[k]);
        pb_end(&o, 14, entry);
    }
    if (o.failed) {
        pb_out_free(&o);
        return NULL;
    }
    *size = o.len;
    return o.buf;
}
