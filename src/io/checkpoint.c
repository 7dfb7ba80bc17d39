/*
 * checkpoint.c - saving and loading training state (see cnn.h, "Checkpoints").
 *
 * Layout, little-endian:
 *   "CNNCKPT1"                          magic (8 bytes)
 *   u32 version (2; 1 is read too)
 *   sections: 4-byte tag, u64 length, payload
 *     "DEFN" the network as text (cnn_net_to_text)
 *     "PARM" parameters, float32;  "STAT" state, float32;  "RNG " 4 x u64
 *     "OPTC" optimiser configuration and step count;  "OPTS" optimiser buffers, float32
 *     "PREP" the preprocessing (src/train/preprocess.c)
 *     "META" free text
 *     "END " u32 CRC-32 of every byte before this section
 * A reader refuses anything else: a wrong magic or version, a section running past the end,
 * an unknown or repeated tag, a checksum mismatch, sizes that disagree with the network.
 */
#include "../core/internal.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define MAGIC "CNNCKPT1"
#define VERSION 2u /* 2 added PREP; version 1 files (no PREP) still load */

/* A writer that keeps the running CRC and the first error. */
typedef struct writer {
    FILE *f;
    uLong crc;
    int failed;
} writer;

static void put(writer *w, const void *p, size_t n) {
    if (w->failed || n == 0) return;
    if (fwrite(p, 1, n, w->f) != n) w->failed = 1;
    w->crc = crc32(w->crc, p, (uInt)n);
}

static void put_u32(writer *w, uint32_t v) {
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    put(w, b, 4);
}

static void put_u64(writer *w, uint64_t v) {
    put_u32(w, (uint32_t)v);
    put_u32(w, (uint32_t)(v >> 32));
}

static void put_f32(writer *w, float x) {
    uint32_t v;
    memcpy(&v, &x, 4);
    put_u32(w, v);
}

static void put_section(writer *w, const char *tag, const void *p, size_t n) {
    put(w, tag, 4);
    put_u64(w, n);
    put(w, p, n);
}

/* Floats are written in little-endian order, which is the machine's on every supported
 * platform (x86-64, aarch64). */
static void put_floats(writer *w, const char *tag, const float *p, size_t n) {
    put_section(w, tag, p, n * sizeof(float));
}

static cnn_status write_checkpoint(const char *path, cnn_net *net, cnn_optim *opt,
                                   const char *meta, char *err, size_t errlen) {
    char *def = cnn_net_to_text(net);
    size_t prep_size = 0;
    unsigned char *prep = def ? cnn_prep_encode(net, &prep_size) : NULL;
    if (!def || !prep) {
        free(def);
        snprintf(err, errlen, "%s: out of memory", path);
        return CNN_STATUS_NO_MEMORY;
    }
    /* Write beside the target, then rename over it: the old file stays whole until the new
     * one is complete and on disk. */
    char tmp[4200];
    writer w = {.f = cnn_atomic_open(path, tmp, sizeof tmp, err, errlen), .crc = crc32(0L, Z_NULL, 0)};
    if (!w.f) {
        free(def);
        cnn_free(prep);
        return CNN_STATUS_IO;
    }
    put(&w, MAGIC, 8);
    put_u32(&w, VERSION);
    put_section(&w, "DEFN", def, strlen(def));
    free(def);
    put_floats(&w, "PARM", cnn_net_params(net), cnn_net_param_count(net));
    put_floats(&w, "STAT", cnn_net_state(net), cnn_net_state_count(net));
    uint64_t rng[4];
    cnn_net_get_rng(net, rng);
    put(&w, "RNG ", 4);
    put_u64(&w, 32);
    for (int i = 0; i < 4; i++) put_u64(&w, rng[i]);
    if (opt) {
        cnn_optim_config c = cnn_optim_get_config(opt);
        put(&w, "OPTC", 4);
        put_u64(&w, 44);
        put_u32(&w, (uint32_t)c.kind);
        put_f32(&w, c.lr);
        put_f32(&w, c.momentum);
        put_u32(&w, (uint32_t)c.nesterov);
        put_f32(&w, c.beta1);
        put_f32(&w, c.beta2);
        put_f32(&w, c.eps);
        put_f32(&w, c.weight_decay);
        put_u64(&w, (uint64_t)cnn_optim_steps(opt));
        put_f32(&w, c.ema); /* was reserved, 0: files from before the average load as ema 0 */
        size_t n;
        float *s = cnn_optim_state(opt, &n);
        put_floats(&w, "OPTS", s, n);
    }
    put_section(&w, "PREP", prep, prep_size);
    cnn_free(prep);
    if (meta) put_section(&w, "META", meta, strlen(meta));
    uint32_t crc = (uint32_t)w.crc;
    put(&w, "END ", 4);
    put_u64(&w, 4);
    put_u32(&w, crc);
    return cnn_atomic_close(w.f, tmp, path, w.failed, err, errlen);
}

/* With an average of the weights (cfg.ema), the file holds the average as the network's
 * weights, for whoever evaluates, predicts or exports the model, and the weights trained in
 * the optimiser's state, in the average's place: a resumed run swaps them back. */
cnn_status cnn_checkpoint_save(const char *path, cnn_net *net, cnn_optim *opt, const char *meta,
                               char *err, size_t errlen) {
    int averaged = opt && cnn_optim_get_config(opt).ema > 0;
    if (averaged && cnn_optim_swap_ema(opt))
        return cnn_set_error(err, errlen, CNN_STATUS_STATE, "%s: %s", path,
                             cnn_net_last_error(net));
    cnn_status st = write_checkpoint(path, net, opt, meta, err, errlen);
    if (averaged) cnn_optim_swap_ema(opt);
    return st;
}

/* ---------------------------------------------------------------------------------------------
 * Reading
 * ------------------------------------------------------------------------------------------- */

typedef struct section {
    const unsigned char *p;
    size_t n;
    int present;
} section;

static uint32_t get_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const unsigned char *p) {
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

static float get_f32(const unsigned char *p) {
    uint32_t v = get_u32(p);
    float x;
    memcpy(&x, &v, 4);
    return x;
}

/* The whole file into *data (to free). Its length bounds everything it can make the reader
 * allocate: the sections it promises are checked against it, the parameters against them. */
static cnn_status read_file(const char *path, unsigned char **data, size_t *size, char *err,
                            size_t errlen) {
    FILE *f;
    size_t len;
    cnn_status st = cnn_open_regular(path, "a checkpoint", &f, &len, err, errlen);
    if (st) return st;
    *data = len < SIZE_MAX ? cnn_alloc(len + 1) : NULL;
    if (!*data) {
        fclose(f);
        snprintf(err, errlen, "%s: out of memory for %zu bytes", path, len);
        return CNN_STATUS_NO_MEMORY;
    }
    *size = fread(*data, 1, len, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || *size != len) {
        free(*data);
        snprintf(err, errlen, "%s: read error", path);
        return CNN_STATUS_IO;
    }
    return CNN_STATUS_OK;
}

enum { S_DEFN, S_PARM, S_STAT, S_RNG, S_OPTC, S_OPTS, S_PREP, S_META, S_END, S_COUNT };
static const char *const TAGS[S_COUNT] = {"DEFN", "PARM", "STAT", "RNG ", "OPTC",
                                          "OPTS", "PREP", "META", "END "};

static cnn_status damaged(char *err, size_t errlen, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static cnn_status damaged(char *err, size_t errlen, const char *path, const char *fmt, ...) {
    int n = snprintf(err, errlen, "%s: not a valid checkpoint: ", path);
    if (n >= 0 && (size_t)n < errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return CNN_STATUS_FORMAT;
}

static cnn_status parse(const char *path, const unsigned char *d, size_t size, section *s,
                        char *err, size_t errlen) {
    if (size < 12 || memcmp(d, MAGIC, 8) != 0)
        return damaged(err, errlen, path, "no cnn checkpoint magic number at the start");
    if (get_u32(d + 8) != VERSION && get_u32(d + 8) != 1)
        return damaged(err, errlen, path, "version %u, this program reads versions 1 to %u",
                       get_u32(d + 8), VERSION);
    size_t off = 12;
    while (!s[S_END].present) {
        if (size - off < 12)
            return damaged(err, errlen, path, "truncated at byte %zu of %zu (no end section)", off,
                           size);
        uint64_t len = get_u64(d + off + 4);
        int k = 0;
        while (k < S_COUNT && memcmp(d + off, TAGS[k], 4) != 0) k++;
        if (k == S_COUNT)
            return damaged(err, errlen, path, "unknown section at byte %zu", off);
        if (s[k].present)
            return damaged(err, errlen, path, "section %s appears twice", TAGS[k]);
        if (len > size - off - 12)
            return damaged(err, errlen, path,
                           "truncated: section %s at byte %zu claims %llu bytes, %zu remain",
                           TAGS[k], off, (unsigned long long)len, size - off - 12);
        s[k] = (section){d + off + 12, (size_t)len, 1};
        if (k == S_END) {
            uint32_t stored = len == 4 ? get_u32(s[k].p) : 0;
            uint32_t computed = (uint32_t)crc32(crc32(0L, Z_NULL, 0), d, (uInt)off);
            if (len != 4 || stored != computed)
                return damaged(err, errlen, path,
                               "checksum mismatch (stored %08x, computed %08x): the file is "
                               "damaged",
                               stored, computed);
            if (off + 16 != size)
                return damaged(err, errlen, path, "%zu bytes after the end section",
                               size - off - 16);
        }
        off += 12 + (size_t)len;
    }
    for (int k = S_DEFN; k <= S_RNG; k++)
        if (!s[k].present) return damaged(err, errlen, path, "no %s section", TAGS[k]);
    if (s[S_RNG].n != 32) return damaged(err, errlen, path, "bad RNG section");
    if (s[S_OPTC].present && (s[S_OPTC].n != 44 || !s[S_OPTS].present))
        return damaged(err, errlen, path, "bad optimiser sections");
    return CNN_STATUS_OK;
}

cnn_status cnn_checkpoint_load(const char *path, cnn_net **net_out, cnn_optim **opt_out,
                               char **meta_out, char *err, size_t errlen) {
    *net_out = NULL;
    if (opt_out) *opt_out = NULL;
    if (meta_out) *meta_out = NULL;
    unsigned char *d;
    size_t size;
    cnn_status st = read_file(path, &d, &size, err, errlen);
    if (st) return st;
    section s[S_COUNT] = {{0}};
    cnn_net *net = NULL;
    cnn_optim *opt = NULL;
    char *def = NULL, *meta = NULL;
    if ((st = parse(path, d, size, s, err, errlen))) goto out;
    def = cnn_alloc(s[S_DEFN].n + 1);
    meta = cnn_alloc(s[S_META].n + 1);
    if (!def || !meta) {
        snprintf(err, errlen, "%s: out of memory", path);
        st = CNN_STATUS_NO_MEMORY;
        goto out;
    }
    memcpy(def, s[S_DEFN].p, s[S_DEFN].n);
    def[s[S_DEFN].n] = 0;
    if (s[S_META].n) memcpy(meta, s[S_META].p, s[S_META].n);
    meta[s[S_META].n] = 0;
    char inner[768];
    char source[4200];
    snprintf(source, sizeof source, "%s (network definition)", path);
    /* The definition may promise any number of parameters in a few bytes: the network is
     * planned without its buffers, and they are made only for as many values as the file
     * holds (the counts stay below CNN_MAX_VALUES, so the byte counts do not wrap). */
    if ((st = cnn_net_plan_text(def, source, &net, inner, sizeof inner))) {
        snprintf(err, errlen, "%s", inner);
        goto out;
    }
    if (s[S_PARM].n != cnn_net_param_count(net) * sizeof(float) ||
        s[S_STAT].n != cnn_net_state_count(net) * sizeof(float)) {
        st = damaged(err, errlen, path,
                     "the network has %zu parameters and %zu state values, the file holds %zu "
                     "and %zu",
                     cnn_net_param_count(net), cnn_net_state_count(net), s[S_PARM].n / 4,
                     s[S_STAT].n / 4);
        goto out;
    }
    if ((st = cnn_net_alloc_params(net))) {
        snprintf(err, errlen, "%s: %s", path, cnn_net_last_error(net));
        goto out;
    }
    if (s[S_PARM].n) memcpy(cnn_net_params(net), s[S_PARM].p, s[S_PARM].n);
    if (s[S_STAT].n) memcpy(cnn_net_state(net), s[S_STAT].p, s[S_STAT].n);
    uint64_t rng[4];
    for (int i = 0; i < 4; i++) rng[i] = get_u64(s[S_RNG].p + 8 * i);
    cnn_net_set_rng(net, rng);
    if (cnn_prep_decode(net, s[S_PREP].present ? s[S_PREP].p : NULL, s[S_PREP].n, meta)) {
        st = damaged(err, errlen, path, "%s", cnn_net_last_error(net));
        goto out;
    }
    if (opt_out && s[S_OPTC].present) {
        const unsigned char *c = s[S_OPTC].p;
        cnn_optim_config cfg = {
            .kind = (cnn_optim_kind)get_u32(c),
            .lr = get_f32(c + 4),
            .momentum = get_f32(c + 8),
            .nesterov = (int)get_u32(c + 12),
            .beta1 = get_f32(c + 16),
            .beta2 = get_f32(c + 20),
            .eps = get_f32(c + 24),
            .weight_decay = get_f32(c + 28),
            .ema = get_f32(c + 40),
        };
        opt = cnn_optim_new(net, &cfg);
        if (!opt) {
            st = damaged(err, errlen, path, "optimiser: %s", cnn_net_last_error(net));
            goto out;
        }
        size_t n;
        float *state = cnn_optim_state(opt, &n);
        if (s[S_OPTS].n != n * sizeof(float)) {
            st = damaged(err, errlen, path, "optimiser state of %zu values, expected %zu",
                         s[S_OPTS].n / 4, n);
            goto out;
        }
        if (n) memcpy(state, s[S_OPTS].p, s[S_OPTS].n);
        cnn_optim_set_steps(opt, (int64_t)get_u64(c + 32));
        /* Saved with the average in the network (see the save): back to the weights trained. */
        if (cfg.ema > 0) cnn_optim_swap_ema(opt);
    }
    *net_out = net;
    if (opt_out) *opt_out = opt;
    if (meta_out) *meta_out = meta;
    net = NULL;
    opt = NULL;
    if (meta_out) meta = NULL;
out:
    cnn_optim_free(opt);
    cnn_net_free(net);
    free(def);
    free(meta);
    free(d);
    return st;
}

int cnn_is_checkpoint(const char *path) {
    char magic[8], err[8];
    FILE *f;
    if (cnn_open_regular(path, "a checkpoint", &f, NULL, err, sizeof err)) return 0;
    int yes = fread(magic, 1, sizeof magic, f) == sizeof magic && !memcmp(magic, MAGIC, 8);
    fclose(f);
    return yes;
}

long cnn_meta_get(const char *meta, const char *key, char *buf, size_t size) {
    size_t klen = strlen(key);
    for (const char *p = meta; p && *p;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
            size_t vlen = len - klen - 1, copy = vlen < size ? vlen : (size ? size - 1 : 0);
            if (size) {
                memcpy(buf, p + klen + 1, copy);
                buf[copy] = 0;
            }
            return (long)vlen;
        }
        p = eol ? eol + 1 : NULL;
    }
    return -1;
}
