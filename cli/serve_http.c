/*
 * serve_http.c - the HTTP side of `cnn serve` (docs/SERVE.md), on libmicrohttpd: a thread per
 * connection (a server-sent event stream waits in its own), at most MAX_CONNECTIONS at once,
 * each idle connection closed after TIMEOUT_S.
 *
 * Paths: /api/... goes to the model API (serve_api.c) or to the training hub (serve_train.c),
 * /api/train/events is the event stream; any other path is one of the page's embedded files
 * (serve_assets, from web/), so that no request ever reaches the file system. A path holding
 * ".." or "//" or not starting with "/" is refused (400) before any lookup.
 */
#include "serve.h"

#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define MAX_CONNECTIONS 512
#define TIMEOUT_S 30

struct serve_http {
    struct MHD_Daemon *daemon;
    serve_api *api;
    serve_hub *hub;
    int port;
};

/* One request's body, gathered as it arrives. */
typedef struct request_body {
    unsigned char *data;
    size_t len, cap;
    int too_large;
} request_body;

static const char *query(void *ctx, const char *key) {
    return MHD_lookup_connection_value(ctx, MHD_GET_ARGUMENT_KIND, key);
}

static enum MHD_Result send_buffer(struct MHD_Connection *c, int status, const char *type,
                                   const void *data, size_t n, enum MHD_ResponseMemoryMode mode) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(n, (void *)data, mode);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static enum MHD_Result send_reply(struct MHD_Connection *c, serve_reply *r) {
    if (r->body.failed || !r->body.s) serve_error(r, 500, "out of memory");
    enum MHD_Result ok = send_buffer(c, r->status, r->type ? r->type : "application/json",
                                     r->body.s, r->body.len, MHD_RESPMEM_MUST_COPY);
    sb_free(&r->body);
    return ok;
}

static enum MHD_Result send_error(struct MHD_Connection *c, int status, const char *fmt,
                                  const char *arg) {
    serve_reply r = {0};
    serve_error(&r, status, fmt, arg);
    return send_reply(c, &r);
}

/* The event stream: the hub's events as they come, until the run ends. */
static ssize_t read_events(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    size_t n = serve_hub_read(cls, buf, max);
    return n ? (ssize_t)n : MHD_CONTENT_READER_END_OF_STREAM;
}

static void end_events(void *cls) { serve_hub_leave(cls); }

static enum MHD_Result send_events(struct MHD_Connection *c, serve_hub *hub) {
    serve_client *cl = serve_hub_join(hub);
    if (!cl) return send_error(c, 500, "%s", "out of memory");
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, read_events, cl, end_events);
    if (!resp) {
        serve_hub_leave(cl);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result ok = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ok;
}

/* One of the page's files, by path ("/" is index.html). */
static enum MHD_Result send_asset(struct MHD_Connection *c, const char *url, const char *method) {
    if (strcmp(method, "GET") && strcmp(method, "HEAD"))
        return send_error(c, 405, "%s: the page's files take GET", method);
    const char *name = strcmp(url, "/") ? url + 1 : "index.html";
    for (int i = 0; i < serve_asset_count; i++)
        if (!strcmp(serve_assets[i].path, name))
            return send_buffer(c, 200, serve_assets[i].type, serve_assets[i].data,
                               serve_assets[i].size, MHD_RESPMEM_PERSISTENT);
    return send_error(c, 404, "no such page: %s (the page is /, its API under /api)", url);
}

static enum MHD_Result send_api(serve_http *h, struct MHD_Connection *c, const char *url,
                                const char *method, const request_body *body) {
    const char *path = url + 4; /* after /api */
    if (h->hub && !strcmp(path, "/train/events")) {
        if (strcmp(method, "GET")) return send_error(c, 405, "%s: the stream takes GET", method);
        return send_events(c, h->hub);
    }
    serve_request q = {.method = method,
                       .path = path,
                       .query = query,
                       .ctx = c,
                       .body = body->data,
                       .body_len = body->len};
    serve_reply r = {.status = 200};
    if (h->api) serve_api_handle(h->api, &q, &r);
    else serve_hub_handle(h->hub, &q, &r);
    return send_reply(c, &r);
}

static enum MHD_Result too_large(struct MHD_Connection *c) {
    char limit[32];
    snprintf(limit, sizeof limit, "%u", SERVE_MAX_UPLOAD);
    return send_error(c, 413, "the upload is larger than %s bytes (docs/SERVE.md)", limit);
}

/* Gathers the body (refusing it past SERVE_MAX_UPLOAD, whatever Content-Length says), then
 * answers. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **state) {
    (void)version;
    serve_http *h = cls;
    request_body *body = *state;
    if (!body) {
        if (!(body = calloc(1, sizeof *body))) return MHD_NO;
        *state = body;
        const char *length =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        body->too_large = length && strtoull(length, NULL, 10) > SERVE_MAX_UPLOAD;
        /* Refused at once: the client need not send what would be dropped. */
        if (body->too_large) return too_large(c);
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (body->too_large || body->len + n > SERVE_MAX_UPLOAD) {
            body->too_large = 1;
            return MHD_YES; /* read and dropped; the answer is 413 */
        }
        if (body->len + n > body->cap) {
            size_t cap = body->cap ? body->cap * 2 : 64 * 1024;
            while (cap < body->len + n) cap *= 2;
            unsigned char *p = realloc(body->data, cap);
            if (!p) return MHD_NO;
            body->data = p;
            body->cap = cap;
        }
        memcpy(body->data + body->len, upload, n);
        body->len += n;
        return MHD_YES;
    }
    if (body->too_large) return too_large(c);
    if (url[0] != '/' || strstr(url, "..") || strstr(url, "//"))
        return send_error(c, 400, "path '%s': relative parts and absolute paths are refused", url);
    if (!strcmp(url, "/api") || !strncmp(url, "/api/", 5))
        return send_api(h, c, url, method, body);
    return send_asset(c, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **state,
                         enum MHD_RequestTerminationCode code) {
    (void)cls, (void)c, (void)code;
    request_body *body = *state;
    if (body) free(body->data);
    free(body);
    *state = NULL;
}

/* The address to listen on: host (a name or a numeric address) and port, IPv4 or IPv6. */
static int resolve(const char *host, int port, struct sockaddr_storage *addr, int *v6, char *err,
                   size_t errlen) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE}, *res;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc) {
        snprintf(err, errlen, "--host %s: %s", host, gai_strerror(rc));
        return 0;
    }
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    *v6 = res->ai_family == AF_INET6;
    freeaddrinfo(res);
    return 1;
}

serve_http *serve_http_start(const char *host, int port, serve_api *api, serve_hub *hub,
                             char *err, size_t errlen) {
    struct sockaddr_storage addr;
    int v6;
    if (!resolve(host, port, &addr, &v6, err, errlen)) return NULL;
    serve_http *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->api = api;
    h->hub = hub;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     (v6 ? MHD_USE_IPv6 : 0);
    h->daemon = MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR, &addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)TIMEOUT_S, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
    if (!h->daemon) {
        snprintf(err, errlen, "cannot listen on %s port %d (in use, or not an address of this "
                 "machine)", host, port);
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : port;
    return h;
}

int serve_http_port(const serve_http *h) { return h->port; }

void serve_http_stop(serve_http *h) {
    if (!h) return;
    if (h->hub) serve_hub_close(h->hub); /* streams end, so their threads can */
    MHD_stop_daemon(h->daemon);
    free(h);
}
