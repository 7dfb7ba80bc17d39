/*
 * test_serve.c - `cnn serve` and `cnn train --serve` from outside, over HTTP (docs/SERVE.md):
 *   - the page and every API request answer, with the shapes the API promises; an uploaded
 *     PNG gets the top-5 `cnn predict` prints for the same file, a test sample its own;
 *   - abuse: a path with "..", "//" or an absolute URI is refused (400), an oversized upload
 *     413 (declared or not), a malformed request line 400, bad numbers, unknown layers and
 *     images 400 or 404, a wrong method 405; the server stays up;
 *   - 200 requests at once, from 200 connections, are all answered, each correctly;
 *   - a training run with --serve streams its run, epochs, filters and end to a browser.
 * The server runs as a child process on a free port (--port 0); the client is written here
 * on plain sockets.
 */
#define _GNU_SOURCE
#include "testlib.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stb/stb_image_write.h>

#define CONCURRENT 200

static char tool[4096], dir[64];
static int port;

/* ---------------------------------------------------------------------------------------------
 * A small HTTP/1.0 client: one request per connection, the whole answer read.
 * ------------------------------------------------------------------------------------------- */

typedef struct answer {
    int status;
    char *text; /* headers and body, NUL-terminated */
    char *body;
    size_t len;
} answer;

static int connect_local(int to_port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)to_port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0) return fd;
    if (fd >= 0) close(fd);
    return -1;
}

static int send_all(int fd, const void *p, size_t n) {
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0) return 0;
        p = (const char *)p + k;
        n -= (size_t)k;
    }
    return 1;
}

/* Sends `head` (a request line and headers, without the blank line) and body, reads all. */
static answer raw_request(const char *head, const void *body, size_t n) {
    answer a = {0};
    int fd = connect_local(port);
    if (fd < 0) return a;
    char *req;
    if (asprintf(&req, "%s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", head, n) < 0)
        return a;
    if (send_all(fd, req, strlen(req))) send_all(fd, body, n);
    free(req);
    size_t cap = 1 << 16, len = 0;
    char *text = malloc(cap);
    for (ssize_t k; (k = recv(fd, text + len, cap - len - 1, 0)) > 0;) {
        len += (size_t)k;
        if (cap - len < 4096) text = realloc(text, cap *= 2);
    }
    close(fd);
    text[len] = 0;
    a.text = text;
    sscanf(text, "HTTP/1.%*d %d", &a.status);
    char *b = strstr(text, "\r\n\r\n");
    a.body = b ? b + 4 : text + len;
    a.len = len - (size_t)(a.body - text);
    return a;
}

static answer request(const char *method, const char *path, const void *body, size_t n) {
    char head[1024];
    snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: localhost", method, path);
    return raw_request(head, body, n);
}

/* The text after "key": in a JSON body, up to 80 characters (enough for numbers and ids). */
static const char *field(const answer *a, const char *key, char *out, size_t size) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = a->body ? strstr(a->body, pat) : NULL;
    if (!p) return "";
    p += strlen(pat);
    if (*p == '"') p++;
    size_t i = 0;
    while (p[i] && p[i] != ',' && p[i] != '"' && p[i] != '}' && i + 1 < size && i < 80) i++;
    memcpy(out, p, i);
    out[i] = 0;
    return out;
}

static void done(answer *a) { free(a->text); }

/* The class numbers of a top list in JSON (`key`: K ...), up to 5, into cls: the server's
 * "class", cnn predict's "index". */
static int top_of(const char *json, const char *key, int *cls) {
    char pat[32];
    int n = snprintf(pat, sizeof pat, "\"%s\": ", key), k = 0;
    for (const char *p = json; k < 5 && (p = strstr(p, pat)); p += n) cls[k++] = atoi(p + n);
    return k;
}

static int top_classes(const char *json, int *cls) { return top_of(json, "class", cls); }

/* ---------------------------------------------------------------------------------------------
 * The server as a child process
 * ------------------------------------------------------------------------------------------- */

/* Starts `cnn args` in dir with its output to dir/log, waits (up to 60 s) for the line holding
 * "http://127.0.0.1:PORT/"; returns the child (port set), or -1. */
static pid_t start(const char *args, const char *log, int *at_port) {
    char cmd[8192], path[256];
    snprintf(path, sizeof path, "%s/%s", dir, log);
    snprintf(cmd, sizeof cmd, "cd %s && exec %s %s > %s 2>&1", dir, tool, args, log);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    *at_port = 0;
    for (int i = 0; i < 600 && !*at_port && waitpid(pid, NULL, WNOHANG) == 0; i++) {
        usleep(100000);
        FILE *f = fopen(path, "r");
        char line[1024];
        while (f && !*at_port && fgets(line, sizeof line, f)) {
            char *p = strstr(line, "http://127.0.0.1:");
            if (p) *at_port = atoi(p + strlen("http://127.0.0.1:"));
        }
        if (f) fclose(f);
    }
    return *at_port ? pid : -1;
}

static int stop(pid_t pid) {
    int st = 0;
    kill(pid, SIGTERM);
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---------------------------------------------------------------------------------------------
 * Checks
 * ------------------------------------------------------------------------------------------- */

static void check_api(void) {
    char v[96];
    answer a = request("GET", "/", NULL, 0);
    T_CHECK(a.status == 200 && strstr(a.text, "text/html") && strstr(a.body, "<"),
            "GET /: %d", a.status);
    done(&a);
    a = request("GET", "/api/info", NULL, 0);
    T_CHECK(a.status == 200 && strstr(a.body, "\"input\": [1, 28, 28]") &&
                strstr(a.body, "\"T-shirt/top\"") && !strcmp(field(&a, "samples", v, sizeof v), "10000"),
            "info: %s", a.body);
    done(&a);
    a = request("GET", "/api/graph", NULL, 0);
    T_CHECK(a.status == 200 && strstr(a.body, "\"name\": \"conv1\", \"type\": \"conv2d\", "
                                              "\"inputs\": [0], \"shape\": [6, 28, 28]"),
            "graph: %.300s", a.body);
    done(&a);
    a = request("POST", "/api/images?sample=7", NULL, 0);
    int cls[5];
    T_CHECK(a.status == 200 && !strcmp(field(&a, "id", v, sizeof v), "1") &&
                top_classes(a.body, cls) == 5,
            "a sample: %d %.200s", a.status, a.body);
    done(&a);
    /* Base64 of 6 x 28 x 28 bytes: 6272 characters. */
    a = request("GET", "/api/images/1/layers/conv1/maps", NULL, 0);
    const char *d = a.body ? strstr(a.body, "\"data\": \"") : NULL;
    T_CHECK(a.status == 200 && d && strchr(d + 9, '"') - (d + 9) == 6272,
            "maps of conv1: %d %.200s", a.status, a.body);
    done(&a);
    a = request("GET", "/api/images/1/layers/5/hist?bins=7", NULL, 0);
    T_CHECK(a.status == 200 && !strcmp(field(&a, "bins", v, sizeof v), "7"), "hist: %.200s",
            a.body);
    done(&a);
    static const char *const explain[][2] = {{"gradcam", "[28, 28]"},
                                             {"saliency", "[28, 28]"},
                                             {"guided", "[1, 28, 28]"}};
    for (int i = 0; i < 3; i++) {
        char path[128];
        snprintf(path, sizeof path, "/api/images/1/explain?method=%s&class=4", explain[i][0]);
        a = request("GET", path, NULL, 0);
        T_CHECK(a.status == 200 && strstr(a.body, explain[i][1]), "%s: %d %.200s",
                explain[i][0], a.status, a.body);
        done(&a);
    }
    a = request("GET", "/api/layers/conv1/filters", NULL, 0);
    T_CHECK(a.status == 200 && strstr(a.body, "\"shape\": [6, 1, 5, 5]"), "filters: %.200s",
            a.body);
    done(&a);
    a = request("GET", "/api/kernels", NULL, 0);
    T_CHECK(a.status == 200 && strstr(a.body, "\"sobel_left\""), "kernels: %.200s", a.body);
    done(&a);
    printf("  ok the page, info, graph, samples, maps, histograms, explanations, filters\n");
}

/* An image written here, uploaded, against `cnn predict --json` on the same file. */
static void check_upload(void) {
    unsigned char px[28 * 28];
    for (int i = 0; i < 28 * 28; i++) px[i] = (unsigned char)((i % 28 > 8 && i % 28 < 20) * 220);
    char path[256], out[4096];
    snprintf(path, sizeof path, "%s/bar.png", dir);
    if (!T_CHECK(stbi_write_png(path, 28, 28, 1, px, 28), "cannot write %s", path)) return;
    FILE *f = fopen(path, "rb");
    static unsigned char file[1 << 16];
    size_t n = fread(file, 1, sizeof file, f);
    fclose(f);
    answer a = request("POST", "/api/images", file, n);
    int got[5], want[5];
    t_run_tool(tool, dir, "predict --json m.ckpt bar.png", out, sizeof out);
    T_CHECK(a.status == 200 && top_classes(a.body, got) == 5 && top_of(out, "index", want) == 5 &&
                !memcmp(got, want, sizeof got),
            "upload: %d %.300s; cnn predict: %s", a.status, a.body, out);
    printf("  ok an uploaded PNG: top-5 %d %d %d %d %d, as cnn predict's\n", got[0], got[1], got[2],
           got[3], got[4]);
    done(&a);
}

static void expect(const char *what, answer a, int status, const char *text) {
    T_CHECK(a.status == status && (!text || (a.body && strstr(a.body, text))),
            "%s: status %d (expected %d): %.200s", what, a.status, status,
            a.body ? a.body : "(no answer)");
    printf("  ok %-34s %d %.110s\n", what, a.status, a.body ? a.body : "");
    done(&a);
}

static void check_abuse(void) {
    expect("path with ..", raw_request("GET /../etc/passwd HTTP/1.1\r\nHost: x", NULL, 0), 400,
           "refused");
    expect("path with %2e%2e", raw_request("GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: x",
                                           NULL, 0), 400, "refused");
    expect("absolute path //", raw_request("GET //etc/passwd HTTP/1.1\r\nHost: x", NULL, 0), 400,
           "refused");
    expect("absolute URI", raw_request("GET http://x/etc/passwd HTTP/1.1\r\nHost: x", NULL, 0),
           400, NULL);
    expect("unknown file", request("GET", "/etc/passwd", NULL, 0), 404, "no such page");
    /* A line that is not HTTP at all gets no HTTP answer: libmicrohttpd closes the
     * connection. A request that is HTTP but wrong gets its 4xx (or 505). */
    answer a = raw_request("BLAH", NULL, 0);
    T_CHECK(a.text && a.status == 0 && !*a.text, "not HTTP: answered %.100s", a.text);
    printf("  ok %-34s connection closed, no answer\n", "not HTTP (BLAH)");
    done(&a);
    expect("a header without a colon",
           raw_request("GET /api/info HTTP/1.1\r\nHost: x\r\nnocolon", NULL, 0), 400, NULL);
    expect("HTTP/9.9", raw_request("GET / HTTP/9.9\r\nHost: x", NULL, 0), 505, NULL);
    /* A declared length over the limit is refused before any byte of the body. */
    expect("declared 17 MiB upload",
           raw_request("POST /api/images HTTP/1.1\r\nHost: x\r\nContent-Length: 17825792", NULL,
                       0), 413, "larger than 16777216");
    size_t big = (16u << 20) + 1;
    char *junk = calloc(big, 1);
    expect("16 MiB + 1 upload", request("POST", "/api/images", junk, big), 413, "larger than");
    free(junk);
    expect("not an image", request("POST", "/api/images", "hello", 5), 400, "not a PNG or JPEG");
    expect("empty upload", request("POST", "/api/images", NULL, 0), 400, "no image");
    expect("sample out of range", request("POST", "/api/images?sample=10000", NULL, 0), 400,
           "from 0 to 9999");
    expect("sample not a number", request("POST", "/api/images?sample=1e3", NULL, 0), 400, NULL);
    expect("unknown image", request("GET", "/api/images/999/explain?class=1", NULL, 0), 404,
           "no image 999");
    expect("unknown layer", request("GET", "/api/images/1/layers/nope/maps", NULL, 0), 404,
           "no layer 'nope'");
    expect("class out of range", request("GET", "/api/images/1/explain?class=10", NULL, 0), 400,
           "from 0 to 9");
    expect("unknown method", request("GET", "/api/images/1/explain?class=1&method=x", NULL, 0),
           400, "expected gradcam");
    expect("filters of a relu", request("GET", "/api/layers/relu1/filters", NULL, 0), 400,
           "a convolution's");
    expect("wrong method", request("DELETE", "/api/graph", NULL, 0), 405, "takes GET");
    expect("unknown request", request("GET", "/api/nothing", NULL, 0), 404, "no such request");
    expect("still up", request("GET", "/api/info", NULL, 0), 200, "\"mode\": \"model\"");
}

typedef struct job {
    pthread_t t;
    int sample, top, status;
} job;

static void *one_job(void *arg) {
    job *j = arg;
    char path[64];
    snprintf(path, sizeof path, "/api/images?sample=%d", j->sample);
    answer a = request("POST", path, NULL, 0);
    int cls[5];
    j->status = a.status;
    j->top = top_classes(a.body ? a.body : "", cls) ? cls[0] : -1;
    done(&a);
    return NULL;
}

/* CONCURRENT requests at once; each answer against the same request made alone before. */
static void check_concurrent(void) {
    static job jobs[CONCURRENT];
    int want[CONCURRENT];
    for (int i = 0; i < CONCURRENT; i++) {
        jobs[i].sample = i * 37 % 10000;
        one_job(&jobs[i]);
        want[i] = jobs[i].top;
    }
    for (int i = 0; i < CONCURRENT; i++) pthread_create(&jobs[i].t, NULL, one_job, &jobs[i]);
    int right = 0;
    for (int i = 0; i < CONCURRENT; i++) {
        pthread_join(jobs[i].t, NULL);
        right += jobs[i].status == 200 && jobs[i].top == want[i] && want[i] >= 0;
    }
    T_CHECK(right == CONCURRENT, "%d of %d concurrent requests answered correctly", right,
            CONCURRENT);
    printf("  ok %d concurrent requests: %d answered correctly\n", CONCURRENT, right);
    expect("still up after them", request("GET", "/api/info", NULL, 0), 200, "\"mode\"");
}

/* A run with --serve: its events, read as a browser would, up to "done". */
static void check_training(void) {
    int at = 0;
    pid_t pid = start("train --model lenet5 --epochs 2 --limit 20000 --serve 0 --out live.ckpt",
                      "train.log", &at);
    if (!T_CHECK(pid > 0, "cnn train --serve printed no address")) return;
    int saved = port;
    port = at;
    answer a = request("GET", "/api/info", NULL, 0);
    T_CHECK(a.status == 200 && strstr(a.body, "\"mode\": \"train\""), "train info: %.200s", a.body);
    done(&a);
    a = request("GET", "/api/train/events", NULL, 0); /* until the stream ends */
    int epochs = 0, run = 0, filters = 0, end = 0;
    for (const char *p = a.text ? a.text : ""; (p = strstr(p, "event: ")); p += 7) {
        epochs += !strncmp(p + 7, "epoch\n", 6);
        run += !strncmp(p + 7, "run\n", 4);
        filters += !strncmp(p + 7, "filters\n", 8);
        end += !strncmp(p + 7, "done\n", 5);
    }
    T_CHECK(a.status == 200 && strstr(a.text, "text/event-stream") && run == 1 && epochs == 2 &&
                filters >= 2 && end == 1,
            "events: status %d, run %d, epochs %d, filters %d, done %d", a.status, run, epochs,
            filters, end);
    printf("  ok cnn train --serve: run, %d epochs, %d filters, done\n", epochs, filters);
    done(&a);
    int st = 0;
    waitpid(pid, &st, 0);
    T_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "cnn train --serve exited %d", st);
    port = saved;
}

int main(int argc, char **argv) {
    if (!t_tool_path(argv[0], tool, sizeof tool)) return t_finish();
    snprintf(dir, sizeof dir, "/tmp/cnn_serve_XXXXXX");
    if (!mkdtemp(dir)) return perror("mkdtemp"), 2;
    char out[8192];
    int rc = t_run_tool(tool, dir, "train --model lenet5 --epochs 1 --limit 2000 --out m.ckpt",
                        out, sizeof out);
    pid_t pid = rc == 0 ? start("serve m.ckpt --data fashion-mnist --port 0", "serve.log", &port) : -1;
    if (T_CHECK(pid > 0, "no server (train exit %d): %s", rc, out)) {
        check_api();
        check_upload();
        check_abuse();
        check_concurrent();
        T_CHECK(stop(pid) == 0, "cnn serve did not exit 0 on SIGTERM");
    }
    check_training();
    snprintf(out, sizeof out, "rm -rf %s", dir);
    if (system(out)) perror("rm");
    return t_finish();
}
