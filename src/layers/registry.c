/*
 * registry.c - the table of layer types.
 *
 * The table is generated at build time from the definitions in src/layers/ (every line
 * "const cnn_layer_type cnn_layer_NAME = {" becomes an entry of layers.inc), so a new layer is
 * one new file and nothing else: no list to keep in step by hand.
 */
#include "../core/internal.h"

#include <string.h>

#define CNN_LAYER(name) extern const cnn_layer_type cnn_layer_##name;
#include "layers.inc"
#undef CNN_LAYER

static const cnn_layer_type *const layer_types[] = {
#define CNN_LAYER(name) &cnn_layer_##name,
#include "layers.inc"
#undef CNN_LAYER
};

int cnn_layer_count(void) { return (int)(sizeof layer_types / sizeof layer_types[0]); }

const cnn_layer_type *cnn_layer_at(int index) {
    CNN_ASSERT(index >= 0 && index < cnn_layer_count());
    return layer_types[index];
}

const cnn_layer_type *cnn_layer_find(const char *name) {
    for (int i = 0; i < cnn_layer_count(); i++)
        if (strcmp(layer_types[i]->name, name) == 0) return layer_types[i];
    return NULL;
}

int cnn_layer_type_count(void) { return cnn_layer_count(); }

const char *cnn_layer_type_name(int index) {
    return index >= 0 && index < cnn_layer_count() ? layer_types[index]->name : NULL;
}

int cnn_layer_type_doc(const char *type, char *buf, size_t size) {
    const cnn_layer_type *t = cnn_layer_find(type);
    if (!t) return snprintf(buf, size, "unknown layer type '%s'\n", type);
    int k = snprintf(buf, size, "%s: %s\n", t->name, t->doc);
    if (k < 0) return k;
    size_t off = (size_t)k < size ? (size_t)k : size;
    return k + cnn_fields_doc(t->fields, buf + off, size - off);
}
