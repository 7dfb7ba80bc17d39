/*
 * pb.c - reading and writing the protocol buffers wire format (pb.h).
 */
#include "pb.h"

#include "../core/internal.h"

#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * Reading
 * ------------------------------------------------------------------------------------------- */

static int varint(pb_in *in, uint64_t *v) {
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (in->p >= in->end) return -1;
        uint8_t b = *in->p++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 1;
        }
    }
    return -1; /* more than 10 bytes */
}

int pb_read_varint(pb_in *in, uint64_t *v) {
    if (in->p >= in->end) return 0;
    return varint(in, v);
}

int pb_next(pb_in *in, pb_field *f, const char **why) {
    if (in->p >= in->end) return 0;
    uint64_t key;
    if (varint(in, &key) < 0) {
        *why = "a truncated field key";
        return -1;
    }
    if (key >> 3 == 0 || key >> 3 > 0x1fffffff) {
        *why = "a field number out of range";
        return -1;
    }
    f->number = (uint32_t)(key >> 3);
    f->wire = (int)(key & 7);
    f->data = NULL;
    f->len = 0;
    f->value = 0;
    size_t left = (size_t)(in->end - in->p);
    switch (f->wire) {
    case PB_VARINT:
        if (varint(in, &f->value) < 0) {
            *why = "a truncated varint";
            return -1;
        }
        return 1;
    case PB_FIXED64:
    case PB_FIXED32: {
        size_t n = f->wire == PB_FIXED64 ? 8 : 4;
        if (left < n) {
            *why = "a truncated fixed-size value";
            return -1;
        }
        for (size_t i = 0; i < n; i++) f->value |= (uint64_t)in->p[i] << (8 * i);
        f->data = in->p;
        f->len = n;
        in->p += n;
        return 1;
    }
    case PB_BYTES: {
        uint64_t len;
        if (varint(in, &len) < 0) {
            *why = "a truncated length";
            return -1;
        }
        if (len > (uint64_t)(in->end - in->p)) {
            *why = "a length past the end of its message";
            return -1;
        }
        f->data = in->p;
        f->len = (size_t)len;
        in->p += len;
        return 1;
    }
    default:
        *why = "a wire type that ONNX does not use";
        return -1;
    }
}

float pb_float(const pb_field *f) {
    uint32_t bits = (uint32_t)f->value;
    float x;
    memcpy(&x, &bits, sizeof x);
    return x;
}

/* ---------------------------------------------------------------------------------------------
 * Writing
 * ------------------------------------------------------------------------------------------- */

static uint8_t *room(pb_out *o, size_t n) {
    if (o->failed) return NULL;
    if (n > SIZE_MAX / 2 - o->len) {
        o->failed = 1;
        return NULL;
    }
    if (o->len + n > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->len + n) cap *= 2;
        uint8_t *b = cnn_realloc(o->buf, cap);
        if (!b) {
            o->failed = 1;
            return NULL;
        }
        o->buf = b;
        o->cap = cap;
    }
    uint8_t *p = o->buf + o->len;
    o->len += n;
    return p;
}

static size_t varint_size(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static void encode_varint(uint8_t *p, uint64_t v) {
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p = (uint8_t)v;
}

static void put_varint(pb_out *o, uint64_t v) {
    uint8_t *p = room(o, varint_size(v));
    if (p) encode_varint(p, v);
}

static void put_key(pb_out *o, uint32_t number, int wire) {
    put_varint(o, (uint64_t)number << 3 | (uint64_t)wire);
}

void pb_put_varint_field(pb_out *o, uint32_t number, uint64_t v) {
    put_key(o, number, PB_VARINT);
    put_varint(o, v);
}

void pb_put_float_field(pb_out *o, uint32_t number, float v) {
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    put_key(o, number, PB_FIXED32);
    uint8_t *p = room(o, 4);
    if (p)
        for (int i = 0; i < 4; i++) p[i] = (uint8_t)(bits >> (8 * i));
}

void pb_put_bytes_field(pb_out *o, uint32_t number, const void *data, size_t len) {
    put_key(o, number, PB_BYTES);
    put_varint(o, len);
    uint8_t *p = room(o, len);
    if (p && len) memcpy(p, data, len);
}

void pb_put_string_field(pb_out *o, uint32_t number, const char *s) {
    pb_put_bytes_field(o, number, s, strlen(s));
}

void pb_put_packed_int64(pb_out *o, uint32_t number, const int64_t *v, size_t n) {
    if (!n) return;
    size_t len = 0;
    for (size_t i = 0; i < n; i++) len += varint_size((uint64_t)v[i]);
    put_key(o, number, PB_BYTES);
    put_varint(o, len);
    for (size_t i = 0; i < n; i++) put_varint(o, (uint64_t)v[i]);
}

size_t pb_begin(pb_out *o) { return o->len; }

void pb_end(pb_out *o, uint32_t number, size_t mark) {
    if (o->failed) return;
    size_t len = o->len - mark;
    uint64_t key = (uint64_t)number << 3 | PB_BYTES;
    size_t head = varint_size(key) + varint_size(len);
    if (!room(o, head)) return;
    memmove(o->buf + mark + head, o->buf + mark, len);
    encode_varint(o->buf + mark, key);
    encode_varint(o->buf + mark + varint_size(key), len);
}

void pb_out_free(pb_out *o) {
    cnn_free(o->buf);
    memset(o, 0, sizeof *o);
}
