/*
 * serve.h - what the parts of `cnn serve` and `cnn train --serve` share (docs/SERVE.md):
 *   serve_http.c   the HTTP server (libmicrohttpd): requests, limits, the page, server-sent
 *                  events;
 *   serve_api.c    the JSON API on a model: its graph, predictions, feature maps, histograms,
 *                  explanations, filters;
 *   serve_train.c  the live view of a training run: events from the trainer's callbacks to
 *                  every browser connected;
 *   serve.c        the command.
 */
#ifndef CLI_SERVE_H
#define CLI_SERVE_H

#include "cnn.h"

#include <stddef.h>

/* Uploads larger than this are refused with 413 (docs/SERVE.md). */
#define SERVE_MAX_UPLOAD (16u << 20)

/* A growing text (JSON) buffer; `failed` once memory ran out (the text is then incomplete). */
typedef struct sbuf {
    char *s;
    size_t len, cap;
    int failed;
} sbuf;

void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_json_str(sbuf *b, const char *s); /* a JSON string, quoted and escaped */
void sb_base64(sbuf *b, const unsigned char *data, size_t n); /* quoted */
void sb_free(sbuf *b);

/* A response: status and body (JSON unless type says otherwise). */
typedef struct serve_reply {
    int status;
    const char *type; /* NULL: application/json */
    sbuf body;
} serve_reply;

/* Sets reply to an error: status and {"error": message}. Returns 0, for `return`. */
int serve_error(serve_reply *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A request as the API sees it: method, path (after /api), query parameters, body. */
typedef struct serve_request {
    const char *method, *path;
    const char *(*query)(void *ctx, const char *key); /* NULL when absent */
    void *ctx;
    const unsigned char *body;
    size_t body_len;
} serve_request;

/* The model API (serve_api.c). serve_api_new takes the network (owned from then on) and an
 * optional test set (owned too, NULL: none) for samples. */
typedef struct serve_api serve_api;
serve_api *serve_api_new(cnn_net *net, const char *model_name, cnn_dataset *samples,
                         char *err, size_t errlen);
void serve_api_free(serve_api *api);
/* Answers one /api request; thread-safe (the network is used by one request at a time). */
void serve_api_handle(serve_api *api, const serve_request *req, serve_reply *reply);

/* A convolution's weights as /api/layers/L/filters gives them, into b (0: l is not a
 * convolution); the first convolution of a network (-1: none). */
int serve_filters_json(cnn_net *net, int l, sbuf *b);
int serve_first_conv(const cnn_net *net);

/* The live training view (serve_train.c): a hub of events for any number of browsers. */
typedef struct serve_hub serve_hub;
serve_hub *serve_hub_new(void);
void serve_hub_free(serve_hub *hub);
/* Adds an event (name, JSON data) for every client, and to the history a new client gets
 * first (kept: the run's description, every epoch, the latest step and filters). */
void serve_hub_push(serve_hub *hub, const char *event, const char *json, int keep);
/* Ends every stream (the run is over). */
void serve_hub_close(serve_hub *hub);
/* A client's stream: serve_hub_read fills buf with the next events (blocking until there are
 * some, or a keep-alive comment after 15 s); returns the bytes, 0 at the end. */
typedef struct serve_client serve_client;
serve_client *serve_hub_join(serve_hub *hub);
size_t serve_hub_read(serve_client *c, char *buf, size_t size);
void serve_hub_leave(serve_client *c);
/* The /api requests of a training run: /api/info and /api/train. */
void serve_hub_handle(serve_hub *hub, const serve_request *req, serve_reply *reply);

/* `cnn train --serve P`: the hub and its server, fed by the trainer's callbacks (rank 0's
 * under mpirun). serve_live_start prints the address; NULL after a message on stderr. */
typedef struct serve_live serve_live;
serve_live *serve_live_start(int port, cnn_net *net, const char *model, int epochs, int steps,
                             int batch);
void serve_live_step(serve_live *l, const cnn_train_progress *p);
void serve_live_epoch(serve_live *l, cnn_net *net, const cnn_train_progress *p);
/* The run is over (stopped or not): the browsers are told, the server stops. Accepts NULL. */
void serve_live_end(serve_live *l, int stopped);

/* The HTTP server (serve_http.c) on host:port (port 0: any free one), answering /api with api
 * or hub (one of them), the page otherwise. Prints the address on stdout. NULL after a
 * message in err. */
typedef struct serve_http serve_http;
serve_http *serve_http_start(const char *host, int port, serve_api *api, serve_hub *hub,
                             char *err, size_t errlen);
int serve_http_port(const serve_http *h);
void serve_http_stop(serve_http *h);

/* The page's files, embedded at build time (web/, scripts/embed.sh). */
typedef struct serve_asset {
    const char *path, *type;
    const unsigned char *data;
    size_t size;
} serve_asset;
extern const serve_asset serve_assets[];
extern const int serve_asset_count;

#endif
