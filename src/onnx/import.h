/*
 * import.h - what the ONNX importer's framework (import.c) and its operators (import_ops.c)
 * share. The importer walks the graph's nodes in order (ONNX stores them topologically
 * sorted) and turns each into zero or more cnn layers, added with cnn_add as it goes. Every
 * ONNX value (a name an output gives, an initializer, a graph input) is one of:
 *   a layer's output            the usual case;
 *   a constant                  an initializer, a Constant, or a small int64 computation on
 *                               shapes (Shape, Gather, Unsqueeze, Concat, Cast) feeding Reshape;
 *   a padded layer output       Pad's output, folded into the convolution or pooling that
 *                               reads it;
 *   a max pooling's Indices     read only by MaxUnpool, which then unpools by that layer.
 * An operator, attribute or shape cnn cannot represent stops the import with an error naming
 * the node, its op type and what is unsupported.
 */
#ifndef CNN_ONNX_IMPORT_H
#define CNN_ONNX_IMPORT_H

#include "model.h"

/* The batch dimension in int64 shape computations (Shape of a layer's output): any batch. */
#define ONNX_BATCH INT64_MIN

typedef enum { VALUE_UNDEFINED, VALUE_LAYER, VALUE_CONST, VALUE_PAD, VALUE_INDICES } value_kind;

typedef struct value {
    const char *name;
    value_kind kind;
    int layer;             /* LAYER, PAD (the layer padded), INDICES (the max pooling layer) */
    const onnx_tensor *t;  /* CONST */
    int pads[4];           /* PAD: zeros before and after rows, then columns: t, b, l, r */
    const onnx_node *pad;  /* PAD: the Pad node */
    int uses;              /* node inputs and graph outputs that read it */
} value;

typedef struct importer {
    onnx_model *m;
    cnn_net *net;
    value *values;
    int n_values, cap;
    int *table; /* open addressing over values by name: index + 1, 0 empty */
    int table_size;
    int *skip;  /* per node: already imported by a fusion with the node before it */
    int64_t input_batch; /* the first graph input's batch size when fixed, else -1 */
    const onnx_node *node; /* the node being imported, for messages */
    char *err;
    size_t errlen;
    const char *source;
} importer;

/* Reports an error about the current node ("source: node 'name' (OpType): ...") and returns
 * status. */
cnn_status imp_fail(importer *im, cnn_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The value of that name, NULL when no initializer, input or earlier node gives it. */
value *imp_value(importer *im, const char *name);
/* The value of the node's input k; an error when it is missing or undefined. */
cnn_status imp_input(importer *im, const onnx_node *n, int k, value **v);
/* Input k as a layer's output (a Pad or Indices there is an error naming it). */
cnn_status imp_input_layer(importer *im, const onnx_node *n, int k, int *layer);
/* Input k as a constant (an error when it is computed by layers). */
cnn_status imp_input_const(importer *im, const onnx_node *n, int k, const onnx_tensor **t);
/* Whether input k is given (not omitted, not ""). */
int imp_has_input(const onnx_node *n, int k);

/* Gives the node's output k the value v (kind and fields as set). */
cnn_status imp_define(importer *im, const onnx_node *n, int k, value v);
/* Whether the node's output k is read by anything (nodes or graph outputs). */
int imp_output_used(importer *im, const onnx_node *n, int k);
/* The only node reading the node's output 0, or NULL when it has none, several, or the
 * output is also a graph output; *index gets its index. For fusions. */
const onnx_node *imp_sole_consumer(importer *im, const onnx_node *n, int *index);

/* Adds a layer of `type` with args for the node (named after it) reading the given layers, and
 * makes it the value of the node's output 0. *layer gets its index. A cnn error is reported with the node. */
cnn_status imp_add_layer(importer *im, const onnx_node *n, const char *type, const int *inputs,
                         int n_inputs, const char *args, int *layer);
/* The same without giving the node's output a value: one of several layers a node makes (named
 * after the node, "_2", "_3"... appended). */
cnn_status imp_add_hidden_layer(importer *im, const onnx_node *n, const char *type,
                                const int *inputs, int n_inputs, const char *args, int *layer);
/* Copies a constant into the layer's tensor `name` ("weight", "bias", ...), which must have
 * the same number of elements; scale multiplies each value (1 to copy). With transpose set,
 * src is (in, out) for a weight of (out, in). */
cnn_status imp_set_tensor(importer *im, int layer, const char *name, const onnx_tensor *src,
                          float scale, int transpose);

/* Attributes, with defaults. imp_attr_ints copies at most max values into v and returns how
 * many the attribute has (def_n when absent, v untouched); more than max is an error. */
int64_t imp_attr_int(const onnx_node *n, const char *name, int64_t def);
float imp_attr_float(const onnx_node *n, const char *name, float def);
const char *imp_attr_string(const onnx_node *n, const char *name, const char *def);
cnn_status imp_attr_ints(importer *im, const onnx_node *n, const char *name, int64_t *v,
                         int max, int *count);

/* A constant made by the importer (int64 shape computations), owned by the model. */
onnx_tensor *imp_new_const(importer *im, int data_type, int rank, const int64_t *dims);

/* One operator: imports node n (index i in the graph). */
typedef cnn_status (*imp_op_fn)(importer *im, const onnx_node *n, int i);

/* Operators on constants (import_const.c): what exporters compute at load time, mostly int64
 * shapes and pads (PyTorch's Pad takes its pads from a chain of them). Each needs constant
 * inputs; an activation there is an error. Concat and Reshape of constants come here from
 * import_ops.c, which handles them on activations. */
cnn_status imp_const_constant(importer *im, const onnx_node *n, int i);
cnn_status imp_const_of_shape(importer *im, const onnx_node *n, int i);
cnn_status imp_const_shape(importer *im, const onnx_node *n, int i);
cnn_status imp_const_gather(importer *im, const onnx_node *n, int i);
cnn_status imp_const_unsqueeze(importer *im, const onnx_node *n, int i);
cnn_status imp_const_squeeze(importer *im, const onnx_node *n, int i);
cnn_status imp_const_cast(importer *im, const onnx_node *n, int i);
cnn_status imp_const_slice(importer *im, const onnx_node *n, int i);
cnn_status imp_const_transpose(importer *im, const onnx_node *n, int i);
cnn_status imp_const_concat(importer *im, const onnx_node *n, int i);
cnn_status imp_const_reshape(importer *im, const onnx_node *n, int i);
/* The handler of an op type, NULL when cnn has none (import_ops.c). */
imp_op_fn imp_find_op(const char *op_type);
/* The op types cnn imports, separated by ", ", into buf; the length needed (as snprintf). */
int imp_op_list(char *buf, size_t size);

#endif /* CNN_ONNX_IMPORT_H */
