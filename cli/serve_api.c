/*
 * serve_api.c - the JSON API of `cnn serve` on one model (docs/SERVE.md): its graph, and for an
 * image the top-5, any layer's feature maps and histogram, Grad-CAM, saliency and guided
 * backpropagation; a convolution's filters; the classic kernels. Everything is computed by
 * libcnn's public functions, as any program would.
 *
 * One network serves every request, under a lock: requests queue rather than run side by side
 * (the network keeps one set of activations). Images are kept as the network sees them before
 * normalisation (raw, in [0, 1]) in a ring of IMAGE_SLOTS, named by an increasing id, so that
 * the page asks about an image many times without uploading it again.
 */
#define _GNU_SOURCE /* memfd_create */
#include "serve.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define IMAGE_SLOTS 64
#define TOP_K 5

typedef struct image_slot {
    unsigned id; /* 0: empty */
    float *raw;  /* C x H x W in [0, 1] */
} image_slot;

struct serve_api {
    pthread_mutex_t lock;
    cnn_net *net;
    char *model;
    cnn_dataset *samples;
    int c, h, w, classes;
    size_t numel;
    image_slot images[IMAGE_SLOTS];
    unsigned next_id;
    float *x, *out, *dx; /* scratch: a normalised image, a layer's output, an input gradient */
    size_t out_cap;
};

/* ---------------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------------- */

/* The values v[0..n) scaled from [lo, hi] to bytes 0..255 (all 0 when lo == hi). */
static void to_bytes(const float *v, size_t n, float lo, float hi, unsigned char *out) {
    float s = hi > lo ? 255.0f / (hi - lo) : 0.0f;
    for (size_t i = 0; i < n; i++) {
        float b = (v[i] - lo) * s + 0.5f;
        out[i] = (unsigned char)(b < 0 ? 0 : b > 255 ? 255 : b);
    }
}

static void min_max(const float *v, size_t n, float *lo, float *hi) {
    *lo = n ? v[0] : 0;
    *hi = *lo;
    for (size_t i = 1; i < n; i++) {
        if (v[i] < *lo) *lo = v[i];
        if (v[i] > *hi) *hi = v[i];
    }
}

/* "data": the values scaled to bytes, base64. 0 when memory runs out. */
static int put_bytes(sbuf *b, const float *v, size_t n, float lo, float hi) {
    unsigned char *bytes = malloc(n ? n : 1);
    if (!bytes) return 0;
    to_bytes(v, n, lo, hi, bytes);
    sb_printf(b, "\"data\": ");
    sb_base64(b, bytes, n);
    free(bytes);
    return 1;
}

static void put_shape(sbuf *b, const cnn_shape *s) {
    sb_printf(b, "[");
    for (int i = 0; i < s->rank; i++) sb_printf(b, "%s%d", i ? ", " : "", s->dim[i]);
    sb_printf(b, "]");
}

/* A decimal integer in [lo, hi] from text, or 0. */
static int parse_int(const char *s, long lo, long hi, long *v) {
    if (!s || !*s) return 0;
    char *end;
    long x = strtol(s, &end, 10);
    if (*end || x < lo || x > hi) return 0;
    *v = x;
    return 1;
}

/* A layer by name, or by index when the text is a number. -1 when there is none. */
static int find_layer(const cnn_net *net, const char *s) {
    long i;
    if (parse_int(s, 0, cnn_net_layer_count(net) - 1, &i)) return (int)i;
    return cnn_net_find(net, s);
}

static image_slot *find_image(serve_api *api, const char *text) {
    long id;
    if (!parse_int(text, 1, 0x7fffffffL, &id)) return NULL;
    for (int i = 0; i < IMAGE_SLOTS; i++)
        if (api->images[i].id == (unsigned)id) return &api->images[i];
    return NULL;
}

/* The image's normalised copy in api->x, as the network sees it. */
static int normalised(serve_api *api, const image_slot *img) {
    memcpy(api->x, img->raw, api->numel * sizeof *api->x);
    return cnn_preprocess_images(api->net, api->x, 1) == CNN_STATUS_OK;
}

/* Room for one sample of a layer's output in api->out. */
static int out_room(serve_api *api, size_t n) {
    if (n <= api->out_cap) return 1;
    float *p = realloc(api->out, n * sizeof *p);
    if (!p) return 0;
    api->out = p;
    api->out_cap = n;
    return 1;
}

/* ---------------------------------------------------------------------------------------------
 * The model: info, graph, filters, kernels
 * ------------------------------------------------------------------------------------------- */

static void info(serve_api *api, serve_reply *r) {
    const cnn_preprocess *p = cnn_net_preprocess(api->net);
    sb_printf(&r->body, "{\"mode\": \"model\", \"model\": ");
    sb_json_str(&r->body, api->model);
    sb_printf(&r->body, ", \"input\": [%d, %d, %d], \"classes\": [", api->c, api->h, api->w);
    for (int k = 0; k < api->classes; k++) {
        if (k) sb_printf(&r->body, ", ");
        char num[16];
        snprintf(num, sizeof num, "%d", k);
        sb_json_str(&r->body, p->class_names ? p->class_names[k] : num);
    }
    sb_printf(&r->body, "], \"samples\": %d, \"max_upload\": %u}",
              api->samples ? api->samples->n : 0, SERVE_MAX_UPLOAD);
}

static void graph(serve_api *api, serve_reply *r) {
    cnn_net *net = api->net;
    sbuf *b = &r->body;
    sb_printf(b, "{\"params\": %zu, \"macs\": %llu, \"layers\": [", cnn_net_param_count(net),
              (unsigned long long)cnn_net_macs(net));
    char args[1024];
    for (int l = 0; l < cnn_net_layer_count(net); l++) {
        cnn_shape s = cnn_net_layer_shape(net, l);
        sb_printf(b, "%s{\"index\": %d, \"name\": ", l ? ", " : "", l);
        sb_json_str(b, cnn_net_layer_name(net, l));
        sb_printf(b, ", \"type\": ");
        sb_json_str(b, cnn_net_layer_type(net, l));
        sb_printf(b, ", \"inputs\": [");
        for (int i = 0; i < cnn_net_layer_input_count(net, l); i++)
            sb_printf(b, "%s%d", i ? ", " : "", cnn_net_layer_input(net, l, i));
        sb_printf(b, "], \"shape\": ");
        put_shape(b, &s);
        cnn_net_layer_args(net, l, args, sizeof args);
        sb_printf(b, ", \"params\": %zu, \"macs\": %llu, \"args\": ",
                  cnn_net_layer_param_count(net, l),
                  (unsigned long long)cnn_net_layer_macs(net, l));
        sb_json_str(b, args);
        sb_printf(b, "}");
    }
    sb_printf(b, "]}");
}

static int is_conv(const char *type) {
    return !strcmp(type, "conv2d") || !strcmp(type, "conv1d") ||
           !strcmp(type, "conv_transpose2d");
}

int serve_first_conv(const cnn_net *net) {
    for (int l = 0; l < cnn_net_layer_count(net); l++)
        if (is_conv(cnn_net_layer_type(net, l))) return l;
    return -1;
}

int serve_filters_json(cnn_net *net, int l, sbuf *b) {
    cnn_param_tensor t;
    if (!is_conv(cnn_net_layer_type(net, l)) || cnn_net_param_tensor(net, l, 0, &t)) return 0;
    float lo, hi;
    min_max(t.data, t.count, &lo, &hi);
    float m = fmaxf(fabsf(lo), fabsf(hi));
    sb_printf(b, "{\"layer\": ");
    sb_json_str(b, cnn_net_layer_name(net, l));
    sb_printf(b, ", \"shape\": [");
    for (int i = 0; i < t.rank; i++) sb_printf(b, "%s%d", i ? ", " : "", t.dims[i]);
    sb_printf(b, "], \"max_abs\": %.9g, ", (double)m);
    if (!put_bytes(b, t.data, t.count, m > 0 ? -m : -1, m > 0 ? m : 1)) b->failed = 1;
    sb_printf(b, "}");
    return 1;
}

static int filters(serve_api *api, const char *name, serve_reply *r) {
    int l = find_layer(api->net, name);
    if (l < 0) return serve_error(r, 404, "no layer '%s'", name);
    if (!serve_filters_json(api->net, l, &r->body))
        return serve_error(r, 400, "layer '%s' is a %s: filters are a convolution's", name,
                           cnn_net_layer_type(api->net, l));
    return 1;
}

static void kernels(serve_reply *r) {
    sb_printf(&r->body, "{\"kernels\": [");
    for (int i = 0; i < cnn_classic_kernel_count(); i++) {
        float k[9];
        cnn_classic_kernel(cnn_classic_kernel_name(i), k);
        sb_printf(&r->body, "%s{\"name\": ", i ? ", " : "");
        sb_json_str(&r->body, cnn_classic_kernel_name(i));
        sb_printf(&r->body, ", \"k\": [");
        for (int j = 0; j < 9; j++) sb_printf(&r->body, "%s%g", j ? ", " : "", (double)k[j]);
        sb_printf(&r->body, "]}");
    }
    sb_printf(&r->body, "]}");
}

/* ---------------------------------------------------------------------------------------------
 * Images: upload, samples, top-5
 * ------------------------------------------------------------------------------------------- */

/* Decodes an uploaded PNG or JPEG, resized to the input, through libcnn's image loader, which
 * reads files: the bytes go to an anonymous in-memory file (memfd), never to the disk. */
static int decode(serve_api *api, const serve_request *q, float *raw, serve_reply *r) {
    if (!q->body_len) return serve_error(r, 400, "no image: send a PNG or JPEG file as the body");
    int fd = memfd_create("cnn-upload", MFD_CLOEXEC);
    if (fd < 0) return serve_error(r, 500, "cannot hold the upload: memfd_create failed");
    size_t done = 0;
    while (done < q->body_len) {
        ssize_t n = write(fd, q->body + done, q->body_len - done);
        if (n <= 0) break;
        done += (size_t)n;
    }
    char path[64], err[1024];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    cnn_status st = done == q->body_len ? cnn_image_load(path, api->c, api->h, api->w, raw, err,
                                                         sizeof err)
                                        : CNN_STATUS_IO;
    close(fd);
    if (st == CNN_STATUS_IO && done != q->body_len)
        return serve_error(r, 500, "cannot hold the upload");
    if (st) {
        /* The loader names the file: the memfd's path means nothing to the user. */
        const char *msg = strncmp(err, path, strlen(path)) ? err : err + strlen(path);
        while (*msg == ':' || *msg == ' ') msg++;
        return serve_error(r, 400, "the upload is not an image cnn can read: %s", msg);
    }
    return 1;
}

static int sample_index(serve_api *api, const char *text, long *i, serve_reply *r) {
    if (!api->samples) return serve_error(r, 404, "no samples: start cnn serve with --data");
    if (!parse_int(text, 0, api->samples->n - 1, i))
        return serve_error(r, 400, "sample '%s': expected a number from 0 to %d", text,
                           api->samples->n - 1);
    return 1;
}

static void sample(serve_api *api, const char *text, serve_reply *r) {
    long i;
    if (!sample_index(api, text, &i, r)) return;
    float *x = malloc(api->numel * sizeof *x);
    if (!x) {
        serve_error(r, 500, "out of memory");
        return;
    }
    cnn_dataset_sample(api->samples, (int)i, x);
    int y = api->samples->y ? api->samples->y[i] : -1;
    sb_printf(&r->body, "{\"index\": %ld, \"label\": %d, \"name\": ", i, y);
    sb_json_str(&r->body, y >= 0 && y < api->samples->classes ? api->samples->class_names[y] : "");
    sb_printf(&r->body, ", \"shape\": [%d, %d, %d], ", api->c, api->h, api->w);
    if (!put_bytes(&r->body, x, api->numel, 0, 1)) serve_error(r, 500, "out of memory");
    else sb_printf(&r->body, "}");
    free(x);
}

/* The slot for a new image: the oldest one is reused. */
static image_slot *new_slot(serve_api *api) {
    image_slot *oldest = &api->images[0];
    for (int i = 0; i < IMAGE_SLOTS; i++) {
        if (!api->images[i].id) return &api->images[i];
        if (api->images[i].id < oldest->id) oldest = &api->images[i];
    }
    return oldest;
}

static void upload(serve_api *api, const serve_request *q, serve_reply *r) {
    const char *from = q->query(q->ctx, "sample");
    long i;
    /* Into the scratch first: a bad upload must not cost a kept image its slot. */
    if (from) {
        if (q->body_len) {
            serve_error(r, 400, "either an image body or ?sample=N, not both");
            return;
        }
        if (!sample_index(api, from, &i, r)) return;
        cnn_dataset_sample(api->samples, (int)i, api->x);
    } else if (!decode(api, q, api->x, r)) {
        return;
    }
    image_slot *s = new_slot(api);
    memcpy(s->raw, api->x, api->numel * sizeof *s->raw);
    s->id = ++api->next_id;
    int k = api->classes < TOP_K ? api->classes : TOP_K, cls[TOP_K];
    float p[TOP_K];
    if (cnn_classify(api->net, s->raw, 1, k, cls, p)) {
        serve_error(r, 500, "%s", cnn_net_last_error(api->net));
        return;
    }
    const cnn_preprocess *pp = cnn_net_preprocess(api->net);
    sb_printf(&r->body, "{\"id\": \"%u\", \"shape\": [%d, %d, %d], ", s->id, api->c, api->h,
              api->w);
    if (!put_bytes(&r->body, s->raw, api->numel, 0, 1)) {
        serve_error(r, 500, "out of memory");
        return;
    }
    sb_printf(&r->body, ", \"top\": [");
    for (int j = 0; j < k; j++) {
        char num[16];
        snprintf(num, sizeof num, "%d", cls[j]);
        sb_printf(&r->body, "%s{\"class\": %d, \"name\": ", j ? ", " : "", cls[j]);
        sb_json_str(&r->body, pp->class_names ? pp->class_names[cls[j]] : num);
        sb_printf(&r->body, ", \"p\": %.6g}", (double)p[j]);
    }
    sb_printf(&r->body, "]}");
}

/* ---------------------------------------------------------------------------------------------
 * An image through the network: maps, histogram, explanations
 * ------------------------------------------------------------------------------------------- */

static void maps(serve_api *api, const image_slot *img, int l, serve_reply *r) {
    cnn_shape s = cnn_net_layer_shape(api->net, l);
    size_t n = cnn_shape_numel(&s);
    if (!out_room(api, n) || !normalised(api, img)) {
        serve_error(r, 500, "out of memory");
        return;
    }
    if (cnn_layer_activations(api->net, api->x, l, api->out)) {
        serve_error(r, 500, "%s", cnn_net_last_error(api->net));
        return;
    }
    /* Channels are scaled each on its own: a channel's pattern, not its size, is what shows.
     * A flat layer is one channel. */
    int channels = s.rank > 1 ? s.dim[0] : 1;
    size_t plane = n / (size_t)channels;
    float *lo = malloc((size_t)channels * 2 * sizeof *lo), *hi = lo + channels;
    unsigned char *bytes = malloc(n ? n : 1);
    if (!lo || !bytes) {
        free(lo);
        free(bytes);
        serve_error(r, 500, "out of memory");
        return;
    }
    for (int ch = 0; ch < channels; ch++) {
        min_max(api->out + ch * plane, plane, &lo[ch], &hi[ch]);
        to_bytes(api->out + ch * plane, plane, lo[ch], hi[ch], bytes + ch * plane);
    }
    sbuf *b = &r->body;
    sb_printf(b, "{\"layer\": ");
    sb_json_str(b, cnn_net_layer_name(api->net, l));
    sb_printf(b, ", \"shape\": ");
    put_shape(b, &s);
    for (int pass = 0; pass < 2; pass++) {
        sb_printf(b, ", \"%s\": [", pass ? "max" : "min");
        for (int ch = 0; ch < channels; ch++)
            sb_printf(b, "%s%.6g", ch ? ", " : "", (double)(pass ? hi[ch] : lo[ch]));
        sb_printf(b, "]");
    }
    sb_printf(b, ", \"data\": ");
    sb_base64(b, bytes, n);
    sb_printf(b, "}");
    free(lo);
    free(bytes);
}

static void histogram(serve_api *api, const image_slot *img, int l, const serve_request *q,
                      serve_reply *r) {
    long bins = 40;
    const char *t = q->query(q->ctx, "bins");
    if (t && !parse_int(t, 2, 256, &bins)) {
        serve_error(r, 400, "bins '%s': expected 2 to 256", t);
        return;
    }
    cnn_shape s = cnn_net_layer_shape(api->net, l);
    uint64_t counts[256];
    cnn_activation_stats st;
    float lo = 0, hi = 0; /* lo >= hi: the range of the values */
    if (!out_room(api, cnn_shape_numel(&s)) || !normalised(api, img) ||
        cnn_layer_activations(api->net, api->x, l, api->out) ||
        cnn_layer_stats(api->net, l, &st, (int)bins, &lo, &hi, counts)) {
        serve_error(r, 500, "%s", cnn_net_last_error(api->net));
        return;
    }
    sb_printf(&r->body, "{\"layer\": ");
    sb_json_str(&r->body, cnn_net_layer_name(api->net, l));
    sb_printf(&r->body, ", \"bins\": %ld, \"lo\": %.6g, \"hi\": %.6g, \"counts\": [", bins,
              (double)lo, (double)hi);
    for (long i = 0; i < bins; i++)
        sb_printf(&r->body, "%s%llu", i ? ", " : "", (unsigned long long)counts[i]);
    sb_printf(&r->body, "], \"mean\": %.6g, \"std\": %.6g, \"zero_fraction\": %.6g}", st.mean,
              st.std, st.zero_fraction);
}

/* Grad-CAM at layer l (upsampled to the input), or the input gradient (saliency: its largest
 * magnitude over the channels; guided: the whole gradient), into api->out; *shape what it is. */
static int explanation(serve_api *api, const char *method, int cls, int l, cnn_shape *shape,
                       serve_reply *r) {
    cnn_net *net = api->net;
    *shape = (cnn_shape){.rank = 2, .dim = {api->h, api->w}};
    if (!strcmp(method, "gradcam")) {
        cnn_shape s = cnn_net_layer_shape(net, l);
        if (s.rank != 3)
            return serve_error(r, 400, "Grad-CAM needs a layer of maps (C, H, W); '%s' is %dD",
                               cnn_net_layer_name(net, l), s.rank);
        float *cam = malloc((size_t)s.dim[1] * s.dim[2] * sizeof *cam);
        cnn_status st = cam ? cnn_gradcam(net, api->x, cls, l, cam, api->out) : CNN_STATUS_NO_MEMORY;
        free(cam);
        if (st) return serve_error(r, 500, "%s", cnn_net_last_error(net));
        return 1;
    }
    int guided = !strcmp(method, "guided");
    if (!guided && strcmp(method, "saliency"))
        return serve_error(r, 400, "method '%s': expected gradcam, saliency or guided", method);
    if (cnn_input_gradient(net, api->x, cls, guided ? CNN_BACKPROP_GUIDED : CNN_BACKPROP_PLAIN,
                           api->dx))
        return serve_error(r, 500, "%s", cnn_net_last_error(net));
    if (guided) {
        *shape = (cnn_shape){.rank = 3, .dim = {api->c, api->h, api->w}};
        memcpy(api->out, api->dx, api->numel * sizeof *api->out);
    } else {
        cnn_saliency_map(api->dx, api->c, api->h, api->w, api->out);
    }
    return 1;
}

static void explain(serve_api *api, const image_slot *img, const serve_request *q,
                    serve_reply *r) {
    const char *method = q->query(q->ctx, "method"), *cls_text = q->query(q->ctx, "class");
    const char *layer = q->query(q->ctx, "layer");
    long cls;
    if (!method) method = "gradcam";
    if (!parse_int(cls_text, 0, api->classes - 1, &cls)) {
        serve_error(r, 400, "class '%s': expected a number from 0 to %d", cls_text ? cls_text : "",
                    api->classes - 1);
        return;
    }
    int l = layer ? find_layer(api->net, layer) : cnn_gradcam_layer(api->net);
    if (l < 0) {
        serve_error(r, layer ? 404 : 400, layer ? "no layer '%s'" : "%s: the network has no "
                    "convolution for Grad-CAM", layer ? layer : method);
        return;
    }
    cnn_shape shape;
    if (!out_room(api, api->numel) || !normalised(api, img)) {
        serve_error(r, 500, "out of memory");
        return;
    }
    if (!explanation(api, method, (int)cls, l, &shape, r)) return;
    size_t n = cnn_shape_numel(&shape);
    float lo, hi;
    min_max(api->out, n, &lo, &hi);
    sb_printf(&r->body, "{\"method\": ");
    sb_json_str(&r->body, method);
    sb_printf(&r->body, ", \"class\": %ld", cls);
    if (!strcmp(method, "gradcam")) { /* the others are gradients of the input */
        sb_printf(&r->body, ", \"layer\": ");
        sb_json_str(&r->body, cnn_net_layer_name(api->net, l));
    }
    sb_printf(&r->body, ", \"shape\": ");
    put_shape(&r->body, &shape);
    sb_printf(&r->body, ", \"min\": %.6g, \"max\": %.6g, ", (double)lo, (double)hi);
    if (!put_bytes(&r->body, api->out, n, lo, hi)) serve_error(r, 500, "out of memory");
    else sb_printf(&r->body, "}");
}

/* /images/ID/layers/L/maps, /images/ID/layers/L/hist, /images/ID/explain */
static void image_request(serve_api *api, const serve_request *q, serve_reply *r) {
    char id[32], layer[256], what[16];
    int n = 0;
    const char *p = q->path + strlen("/images/");
    if (sscanf(p, "%31[^/]/explain%n", id, &n) == 1 && !p[n]) {
        image_slot *img = find_image(api, id);
        if (!img) serve_error(r, 404, "no image %s (the last %d are kept)", id, IMAGE_SLOTS);
        else explain(api, img, q, r);
        return;
    }
    n = 0;
    if (sscanf(p, "%31[^/]/layers/%255[^/]/%15[a-z]%n", id, layer, what, &n) != 3 || p[n] ||
        (strcmp(what, "maps") && strcmp(what, "hist"))) {
        serve_error(r, 404, "no such request: /api%s", q->path);
        return;
    }
    image_slot *img = find_image(api, id);
    int l = find_layer(api->net, layer);
    if (!img) serve_error(r, 404, "no image %s (the last %d are kept)", id, IMAGE_SLOTS);
    else if (l < 0) serve_error(r, 404, "no layer '%s'", layer);
    else if (!strcmp(what, "maps")) maps(api, img, l, r);
    else histogram(api, img, l, q, r);
}

/* ---------------------------------------------------------------------------------------------
 * Dispatch
 * ------------------------------------------------------------------------------------------- */

static void route(serve_api *api, const serve_request *q, serve_reply *r) {
    const char *path = q->path;
    int get = !strcmp(q->method, "GET"), post = !strcmp(q->method, "POST");
    char name[256];
    int n = 0;
    if (!strcmp(path, "/images")) {
        if (post) upload(api, q, r);
        else serve_error(r, 405, "/api/images takes POST (an image body, or ?sample=N)");
        return;
    }
    if (!get) {
        serve_error(r, 405, "%s /api%s: this request takes GET", q->method, path);
        return;
    }
    if (!strcmp(path, "/info")) info(api, r);
    else if (!strcmp(path, "/graph")) graph(api, r);
    else if (!strcmp(path, "/kernels")) kernels(r);
    else if (!strncmp(path, "/samples/", 9)) sample(api, path + 9, r);
    else if (!strncmp(path, "/images/", 8)) image_request(api, q, r);
    else if (sscanf(path, "/layers/%255[^/]/filters%n", name, &n) == 1 && !path[n])
        filters(api, name, r);
    else serve_error(r, 404, "no such request: /api%s (docs/SERVE.md lists them)", path);
}

void serve_api_handle(serve_api *api, const serve_request *q, serve_reply *r) {
    pthread_mutex_lock(&api->lock);
    r->status = 200;
    route(api, q, r);
    pthread_mutex_unlock(&api->lock);
    if (r->body.failed) {
        sb_free(&r->body);
        serve_error(r, 500, "out of memory");
    }
}

serve_api *serve_api_new(cnn_net *net, const char *model_name, cnn_dataset *samples, char *err,
                         size_t errlen) {
    cnn_shape in = cnn_net_input_shape(net, 0);
    const cnn_preprocess *p = cnn_net_preprocess(net);
    if (cnn_net_input_count(net) != 1 || in.rank != 3 || (in.dim[0] != 1 && in.dim[0] != 3) ||
        p->task != CNN_TASK_CLASSIFICATION || p->classes < 1) {
        snprintf(err, errlen, "%s: cnn serve shows image classifiers (one input of 1 or 3 "
                 "channels, class scores out); this network's input is %dD with %d channel(s), "
                 "for %s", model_name, in.rank, in.rank ? in.dim[0] : 0, cnn_task_name(p->task));
        return NULL;
    }
    if (samples && (samples->shape.rank != 3 || samples->shape.dim[0] != in.dim[0] ||
                    samples->shape.dim[1] != in.dim[1] || samples->shape.dim[2] != in.dim[2])) {
        snprintf(err, errlen, "--data: its samples are %dx%dx%d, the network takes %dx%dx%d",
                 samples->shape.dim[0], samples->shape.dim[1], samples->shape.dim[2], in.dim[0],
                 in.dim[1], in.dim[2]);
        return NULL;
    }
    serve_api *api = calloc(1, sizeof *api);
    if (!api) return NULL;
    pthread_mutex_init(&api->lock, NULL);
    api->c = in.dim[0], api->h = in.dim[1], api->w = in.dim[2];
    api->numel = (size_t)api->c * api->h * api->w;
    api->classes = p->classes;
    api->x = malloc(api->numel * sizeof *api->x);
    api->dx = malloc(api->numel * sizeof *api->dx);
    api->model = strdup(model_name);
    int ok = api->x && api->dx && api->model && out_room(api, api->numel);
    for (int i = 0; ok && i < IMAGE_SLOTS; i++)
        ok = (api->images[i].raw = malloc(api->numel * sizeof(float))) != NULL;
    if (!ok) {
        snprintf(err, errlen, "out of memory");
        serve_api_free(api);
        return NULL;
    }
    api->net = net;
    api->samples = samples;
    return api;
}

void serve_api_free(serve_api *api) {
    if (!api) return;
    cnn_net_free(api->net);
    cnn_dataset_free(api->samples);
    for (int i = 0; i < IMAGE_SLOTS; i++) free(api->images[i].raw);
    free(api->x);
    free(api->dx);
    free(api->out);
    free(api->model);
    pthread_mutex_destroy(&api->lock);
    free(api);
}
