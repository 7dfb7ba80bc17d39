/*
 * serve_train.c - the live view of a training run (`cnn train --serve P`, docs/SERVE.md): the
 * trainer's callbacks push events into a hub, and every browser connected reads them as
 * server-sent events.
 *
 * The hub keeps what a browser joining late needs to draw the run so far (the run's
 * description, every epoch, the latest step and filters) and a ring of the last RING events
 * for the browsers connected. A browser that falls more than RING events behind (a stalled
 * tab) skips to the oldest event still held rather than holding the trainer up: the trainer
 * never waits for a browser.
 */
#include "serve.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RING 256
#define KEEP_ALIVE_S 15
#define CLOSE_WAIT_S 2

struct serve_hub {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    sbuf kept;           /* the run and its epochs, as events */
    char *step, *filters; /* the latest of each, as events */
    char *run_json;      /* the run's description (GET /api/train) */
    sbuf epochs_json;    /* the epochs, comma-separated objects */
    char *ring[RING];
    uint64_t seq; /* events pushed so far; event s is ring[s % RING] */
    int closed;
    int clients; /* streams open */
};

struct serve_client {
    serve_hub *hub;
    uint64_t seq;       /* the next event to send */
    char *pending;      /* text not sent yet */
    size_t len, off;
};

serve_hub *serve_hub_new(void) {
    serve_hub *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    pthread_mutex_init(&h->lock, NULL);
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&h->changed, &a);
    pthread_condattr_destroy(&a);
    return h;
}

void serve_hub_free(serve_hub *h) {
    if (!h) return;
    sb_free(&h->kept);
    sb_free(&h->epochs_json);
    free(h->step);
    free(h->filters);
    free(h->run_json);
    for (int i = 0; i < RING; i++) free(h->ring[i]);
    pthread_cond_destroy(&h->changed);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

static void replace(char **slot, const char *text) {
    free(*slot);
    *slot = strdup(text);
}

void serve_hub_push(serve_hub *h, const char *event, const char *json, int keep) {
    sbuf e = {0};
    sb_printf(&e, "event: %s\ndata: %s\n\n", event, json);
    if (e.failed) return; /* out of memory: the browsers miss this one */
    pthread_mutex_lock(&h->lock);
    if (keep) sb_printf(&h->kept, "%s", e.s);
    if (!strcmp(event, "step")) replace(&h->step, e.s);
    if (!strcmp(event, "filters")) replace(&h->filters, e.s);
    if (!strcmp(event, "run")) replace(&h->run_json, json);
    if (!strcmp(event, "epoch"))
        sb_printf(&h->epochs_json, "%s%s", h->epochs_json.len ? ", " : "", json);
    free(h->ring[h->seq % RING]);
    h->ring[h->seq % RING] = e.s;
    h->seq++;
    pthread_cond_broadcast(&h->changed);
    pthread_mutex_unlock(&h->lock);
}

void serve_hub_close(serve_hub *h) {
    pthread_mutex_lock(&h->lock);
    h->closed = 1;
    pthread_cond_broadcast(&h->changed);
    /* The streams send what they still hold (the "done" event) and end; a browser that does
     * not read gets CLOSE_WAIT_S, then the server stops anyway. */
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += CLOSE_WAIT_S;
    while (h->clients > 0 &&
           pthread_cond_timedwait(&h->changed, &h->lock, &until) != ETIMEDOUT) {
    }
    pthread_mutex_unlock(&h->lock);
}

serve_client *serve_hub_join(serve_hub *h) {
    serve_client *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->hub = h;
    sbuf first = {0};
    pthread_mutex_lock(&h->lock);
    sb_printf(&first, "retry: 2000\n\n%s%s%s", h->kept.s ? h->kept.s : "",
              h->filters ? h->filters : "", h->step ? h->step : "");
    c->seq = h->seq;
    h->clients++;
    pthread_mutex_unlock(&h->lock);
    if (first.failed) {
        serve_hub_leave(c);
        sb_free(&first);
        return NULL;
    }
    c->pending = first.s;
    c->len = first.len;
    return c;
}

/* The events from c->seq on, into c->pending; the caller holds the lock. */
static void take_events(serve_client *c) {
    serve_hub *h = c->hub;
    if (h->seq - c->seq > RING) c->seq = h->seq - RING; /* fell behind: skip */
    sbuf b = {0};
    for (; c->seq < h->seq; c->seq++) sb_printf(&b, "%s", h->ring[c->seq % RING]);
    free(c->pending);
    c->pending = b.s;
    c->len = b.failed ? 0 : b.len;
    c->off = 0;
}

size_t serve_hub_read(serve_client *c, char *buf, size_t size) {
    serve_hub *h = c->hub;
    if (c->off == c->len) {
        pthread_mutex_lock(&h->lock);
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += KEEP_ALIVE_S;
        int timed_out = 0;
        while (c->seq == h->seq && !h->closed && !timed_out)
            timed_out = pthread_cond_timedwait(&h->changed, &h->lock, &until) == ETIMEDOUT;
        int ended = h->closed && c->seq == h->seq;
        if (c->seq != h->seq) take_events(c);
        pthread_mutex_unlock(&h->lock);
        if (ended) return 0;
        if (c->off == c->len) { /* a comment keeps proxies and the idle timeout away */
            static const char ping[] = ": keep-alive\n\n";
            size_t n = sizeof ping - 1 < size ? sizeof ping - 1 : size;
            memcpy(buf, ping, n);
            return n;
        }
    }
    size_t n = c->len - c->off < size ? c->len - c->off : size;
    memcpy(buf, c->pending + c->off, n);
    c->off += n;
    return n;
}

void serve_hub_leave(serve_client *c) {
    if (!c) return;
    serve_hub *h = c->hub;
    pthread_mutex_lock(&h->lock);
    h->clients--;
    pthread_cond_broadcast(&h->changed);
    pthread_mutex_unlock(&h->lock);
    free(c->pending);
    free(c);
}

void serve_hub_handle(serve_hub *h, const serve_request *q, serve_reply *r) {
    r->status = 200;
    if (strcmp(q->method, "GET")) {
        serve_error(r, 405, "%s /api%s: this request takes GET", q->method, q->path);
        return;
    }
    pthread_mutex_lock(&h->lock);
    if (!strcmp(q->path, "/info")) {
        sb_printf(&r->body, "{\"mode\": \"train\", \"run\": %s, \"max_upload\": %u}",
                  h->run_json ? h->run_json : "null", SERVE_MAX_UPLOAD);
    } else if (!strcmp(q->path, "/train")) {
        sb_printf(&r->body, "{\"run\": %s, \"epochs\": [%s], \"step\": %s}",
                  h->run_json ? h->run_json : "null", h->epochs_json.s ? h->epochs_json.s : "",
                  h->step ? strstr(h->step, "data: ") + 6 : "null");
        /* the step event's data ends in two newlines: JSON allows the white space */
    } else {
        serve_error(r, 404, "no such request: /api%s (a training run answers /api/info, "
                    "/api/train and /api/train/events; the model's requests are cnn serve's)",
                    q->path);
    }
    pthread_mutex_unlock(&h->lock);
}

/* ---------------------------------------------------------------------------------------------
 * cnn train --serve: the trainer's progress as events
 * ------------------------------------------------------------------------------------------- */

#define STEPS_PER_SECOND 4

struct serve_live {
    serve_hub *hub;
    serve_http *http;
    double last_step; /* when the last step event went out */
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A JSON number, or null for NaN (a run without accuracy). */
static void number(sbuf *b, const char *key, double v) {
    if (v == v) sb_printf(b, "\"%s\": %.6g", key, v);
    else sb_printf(b, "\"%s\": null", key);
}

static void push_filters(serve_live *l, cnn_net *net) {
    int conv = serve_first_conv(net);
    sbuf b = {0};
    if (conv >= 0 && serve_filters_json(net, conv, &b) && !b.failed)
        serve_hub_push(l->hub, "filters", b.s, 0);
    sb_free(&b);
}

serve_live *serve_live_start(int port, cnn_net *net, const char *model, int epochs, int steps,
                             int batch) {
    serve_live *l = calloc(1, sizeof *l);
    char err[1024];
    if (!l || !(l->hub = serve_hub_new())) {
        fprintf(stderr, "cnn train: --serve: out of memory\n");
        free(l);
        return NULL;
    }
    if (!(l->http = serve_http_start("127.0.0.1", port, NULL, l->hub, err, sizeof err))) {
        fprintf(stderr, "cnn train: --serve: %s\n", err);
        serve_hub_free(l->hub);
        free(l);
        return NULL;
    }
    const cnn_preprocess *p = cnn_net_preprocess(net);
    sbuf b = {0};
    sb_printf(&b, "{\"model\": ");
    sb_json_str(&b, model);
    sb_printf(&b, ", \"params\": %zu, \"epochs\": %d, \"steps\": %d, \"batch\": %d, \"classes\": [",
              cnn_net_param_count(net), epochs, steps, batch);
    for (int k = 0; p->class_names && k < p->classes; k++) {
        if (k) sb_printf(&b, ", ");
        sb_json_str(&b, p->class_names[k]);
    }
    sb_printf(&b, "]}");
    if (!b.failed) serve_hub_push(l->hub, "run", b.s, 1);
    sb_free(&b);
    push_filters(l, net);
    printf("live view of the run on http://127.0.0.1:%d/\n", serve_http_port(l->http));
    fflush(stdout);
    return l;
}

void serve_live_step(serve_live *l, const cnn_train_progress *p) {
    double t = now_s();
    if (p->step != p->steps && t - l->last_step < 1.0 / STEPS_PER_SECOND) return;
    l->last_step = t;
    sbuf b = {0};
    sb_printf(&b, "{\"epoch\": %d, \"step\": %d, \"steps\": %d, ", p->epoch, p->step, p->steps);
    number(&b, "loss", p->loss);
    sb_printf(&b, ", ");
    number(&b, "accuracy", p->accuracy);
    sb_printf(&b, ", \"lr\": %.6g, \"images_per_sec\": %.1f}", (double)p->lr, p->images_per_sec);
    if (!b.failed) serve_hub_push(l->hub, "step", b.s, 0);
    sb_free(&b);
}

void serve_live_epoch(serve_live *l, cnn_net *net, const cnn_train_progress *p) {
    sbuf b = {0};
    sb_printf(&b, "{\"epoch\": %d, ", p->epoch);
    number(&b, "loss", p->loss);
    sb_printf(&b, ", ");
    number(&b, "accuracy", p->accuracy);
    sb_printf(&b, ", ");
    number(&b, "val_loss", p->has_val ? p->val_loss : NAN);
    sb_printf(&b, ", ");
    number(&b, "val_accuracy", p->has_val ? p->val_accuracy : NAN);
    sb_printf(&b, ", \"lr\": %.6g, \"seconds\": %.3f}", (double)p->lr, p->seconds);
    if (!b.failed) serve_hub_push(l->hub, "epoch", b.s, 1);
    sb_free(&b);
    push_filters(l, net);
}

void serve_live_end(serve_live *l, int stopped) {
    if (!l) return;
    serve_hub_push(l->hub, "done", stopped ? "{\"stopped\": true}" : "{\"stopped\": false}", 1);
    serve_http_stop(l->http); /* closes the streams after the events still queued */
    serve_hub_free(l->hub);
    free(l);
}
