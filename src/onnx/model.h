/*
 * model.h - an ONNX model in memory: the part of onnx.proto that describes an inference graph
 * of tensors (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto).
 * The importer reads one (model_read.c), the exporter builds one and writes it
 * (model_write.c). Fields of onnx.proto that cnn never needs (doc strings, training info,
 * functions, sparse tensors) are skipped when reading and never written.
 */
#ifndef CNN_ONNX_MODEL_H
#define CNN_ONNX_MODEL_H

#include "../core/internal.h"

#include <stdint.h>

/* TensorProto.DataType values that cnn reads. */
enum {
    ONNX_FLOAT = 1,
    ONNX_UINT8 = 2,
    ONNX_INT8 = 3,
    ONNX_INT32 = 6,
    ONNX_INT64 = 7,
    ONNX_BOOL = 9,
    ONNX_DOUBLE = 11
};

/* AttributeProto.AttributeType values. */
enum {
    ONNX_ATTR_FLOAT = 1,
    ONNX_ATTR_INT = 2,
    ONNX_ATTR_STRING = 3,
    ONNX_ATTR_TENSOR = 4,
    ONNX_ATTR_GRAPH = 5,
    ONNX_ATTR_FLOATS = 6,
    ONNX_ATTR_INTS = 7,
    ONNX_ATTR_STRINGS = 8
};

#define ONNX_MAX_RANK 8

/* A tensor with its values converted on reading: float types to f, integer and boolean types
 * to i (exactly one of them is set when count > 0). */
typedef struct onnx_tensor {
    const char *name;
    int data_type; /* as in the file */
    int rank;
    int64_t dims[ONNX_MAX_RANK];
    size_t count;  /* the product of dims (1 for a scalar) */
    float *f;
    int64_t *i;
} onnx_tensor;

typedef struct onnx_attr {
    const char *name;
    int type;
    float f;
    int64_t i;
    const char *s;
    onnx_tensor *t;
    float *floats;
    int64_t *ints;
    size_t n; /* entries of floats or ints */
} onnx_attr;

typedef struct onnx_node {
    const char *name, *op_type, *domain;
    const char **inputs;  /* "" for an omitted optional input */
    const char **outputs;
    int n_inputs, n_outputs;
    onnx_attr *attrs;
    int n_attrs;
} onnx_node;

/* A graph input or output: its element type and dims; a dimension given by name (a symbolic
 * batch size, "N") or not at all is -1. */
typedef struct onnx_value {
    const char *name;
    int elem_type;
    int rank; /* -1: no shape given */
    int64_t dims[ONNX_MAX_RANK];
} onnx_value;

typedef struct onnx_model {
    int64_t ir_version;
    int64_t opset; /* of the default domain ("" or "ai.onnx") */
    const char *producer_name, *producer_version;
    const char *graph_name;
    onnx_node *nodes;
    int n_nodes;
    onnx_tensor *inits;
    int n_inits;
    onnx_value *inputs, *outputs;
    int n_inputs, n_outputs;
    const char **meta_keys, **meta_values; /* metadata_props */
    int n_meta;
    struct onnx_block *blocks; /* every allocation of the model, freed together */
} onnx_model;

/* Reads a model from the bytes of a file. dir is the model's folder, where tensors stored as
 * external data are read from (a location that leaves it is refused); NULL refuses external
 * data. source names the model in messages. Every count and size is checked against the bytes
 * that hold it before anything is allocated, so memory stays within a small multiple of the
 * file's size (external data: of that data's size). On failure returns the status, with the
 * message in err, and leaves *m empty. */
cnn_status onnx_model_read(const uint8_t *data, size_t size, const char *dir, const char *source,
                           onnx_model *m, char *err, size_t errlen);

/* The model's bytes, a buffer to free with cnn_free (NULL when memory runs out). */
uint8_t *onnx_model_write(const onnx_model *m, size_t *size);

void onnx_model_free(onnx_model *m);

/* Memory owned by the model, freed by onnx_model_free: zeroed, NULL when memory runs out or
 * count * size overflows. */
void *onnx_alloc(onnx_model *m, size_t count, size_t size);
/* A copy of s owned by the model. */
char *onnx_strdup(onnx_model *m, const char *s);

/* The node's attribute of that name, or NULL. */
const onnx_attr *onnx_attr_find(const onnx_node *n, const char *name);

#endif /* CNN_ONNX_MODEL_H */
