/*
 * cnn_mpi.c - libcnn_mpi: the cnn_train_comm of an MPI communicator (include/cnn_mpi.h).
 * Built apart from libcnn (the Makefile's MPI part), with mpicc.
 *
 * Every sum is reduced to rank 0 over a binomial tree of fixed pairs (rank r + s adds into
 * rank r, s = 1, 2, 4...), then broadcast: every rank receives the same bits, and they depend
 * neither on how the values were cut into sums nor on the algorithm MPI would pick for a
 * message of that size (MPI_Reduce may add in another order for another size). When MPI allows calls from another thread than the main one (MPI_THREAD_SERIALIZED
 * or more), the sums run on a thread of their own, in the order they were asked for: the
 * trainer starts a bucket of gradients (start_sum) as soon as backward has finished it and goes
 * on, and waits for all at the end (wait_sums); the blocking sums then go through the same
 * queue, so the ranks' MPI calls stay in one order. Otherwise every sum runs at once on the
 * caller's thread and start_sum is not offered.
 */
#include "cnn_mpi.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct job {
    void *values;
    size_t count;
    MPI_Datatype type;
    size_t width;
} job;

#define PIECE ((size_t)1 << 20) /* values reduced at a time */

typedef struct mpi_user {
    MPI_Comm comm;
    void *scratch; /* a received piece (PIECE doubles) */
    int threaded;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    job *queue;
    size_t head, tail, cap; /* jobs [head, tail) wait or run */
    int busy, quit;
    int error;              /* the first failure's MPI code (MPI_SUCCESS: none) */
    char what[32];
} mpi_user;

static cnn_status mpi_fail(int code, const char *what, char *err, size_t errlen) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(code, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "error %d", code);
    if (err && errlen) snprintf(err, errlen, "%s failed: %s", what, msg);
    return CNN_STATUS_IO;
}

/* a[k] += b[k], n values of the job's type. */
static void add(const job *j, void *a, const void *b, int n) {
    if (j->type == MPI_FLOAT)
        for (int k = 0; k < n; k++) ((float *)a)[k] += ((const float *)b)[k];
    else
        for (int k = 0; k < n; k++) ((double *)a)[k] += ((const double *)b)[k];
}

/* One sum over the ranks, PIECE values at a time; the MPI code, what failed in *what. */
static int sum_now(mpi_user *u, const job *j, const char **what) {
    int rank, size;
    MPI_Comm_rank(u->comm, &rank);
    MPI_Comm_size(u->comm, &size);
    for (size_t at = 0; at < j->count;) {
        int n = (int)(j->count - at > PIECE ? PIECE : j->count - at);
        char *p = (char *)j->values + at * j->width;
        for (int s = 1; s < size; s *= 2) {
            if (rank % (2 * s) == s) { /* send to the partner, then wait for the broadcast */
                int rc = MPI_Send(p, n, j->type, rank - s, 0, u->comm);
                if (rc != MPI_SUCCESS) return *what = "MPI_Send", rc;
                break;
            }
            if (rank % (2 * s) == 0 && rank + s < size) {
                int rc = MPI_Recv(u->scratch, n, j->type, rank + s, 0, u->comm, MPI_STATUS_IGNORE);
                if (rc != MPI_SUCCESS) return *what = "MPI_Recv", rc;
                add(j, p, u->scratch, n);
            }
        }
        int rc = MPI_Bcast(p, n, j->type, 0, u->comm);
        if (rc != MPI_SUCCESS) return *what = "MPI_Bcast", rc;
        at += (size_t)n;
    }
    return MPI_SUCCESS;
}

/* The sums' thread: takes the jobs in order until told to quit. */
static void *sum_thread(void *arg) {
    mpi_user *u = arg;
    pthread_mutex_lock(&u->lock);
    for (;;) {
        while (u->head == u->tail && !u->quit) pthread_cond_wait(&u->changed, &u->lock);
        if (u->head == u->tail) break;
        job j = u->queue[u->head % u->cap];
        int failed = u->error != MPI_SUCCESS; /* after a failure the ranks are out of step */
        u->busy = 1;
        pthread_mutex_unlock(&u->lock);
        const char *what = "";
        int rc = failed ? MPI_SUCCESS : sum_now(u, &j, &what);
        pthread_mutex_lock(&u->lock);
        if (rc != MPI_SUCCESS && u->error == MPI_SUCCESS) {
            u->error = rc;
            snprintf(u->what, sizeof u->what, "%s", what);
        }
        u->head++;
        u->busy = 0;
        pthread_cond_broadcast(&u->changed);
    }
    pthread_mutex_unlock(&u->lock);
    return NULL;
}

static cnn_status enqueue(mpi_user *u, void *values, size_t count, MPI_Datatype type,
                          size_t width) {
    pthread_mutex_lock(&u->lock);
    if (u->tail - u->head == u->cap) {
        size_t cap = u->cap * 2;
        job *q = malloc(cap * sizeof *q);
        if (!q) {
            pthread_mutex_unlock(&u->lock);
            return CNN_STATUS_NO_MEMORY;
        }
        for (size_t k = u->head; k < u->tail; k++) q[k % cap] = u->queue[k % u->cap];
        free(u->queue);
        u->queue = q;
        u->cap = cap;
    }
    u->queue[u->tail++ % u->cap] = (job){values, count, type, width};
    pthread_cond_broadcast(&u->changed);
    pthread_mutex_unlock(&u->lock);
    return CNN_STATUS_OK;
}

static cnn_status wait_sums(void *user, char *err, size_t errlen) {
    mpi_user *u = user;
    if (!u->threaded) return CNN_STATUS_OK;
    pthread_mutex_lock(&u->lock);
    while (u->head != u->tail) pthread_cond_wait(&u->changed, &u->lock);
    int rc = u->error;
    char what[32];
    snprintf(what, sizeof what, "%s", u->what);
    u->error = MPI_SUCCESS;
    pthread_mutex_unlock(&u->lock);
    return rc == MPI_SUCCESS ? CNN_STATUS_OK : mpi_fail(rc, what, err, errlen);
}

static cnn_status start_sum(void *user, float *values, size_t count) {
    return enqueue(user, values, count, MPI_FLOAT, sizeof *values);
}

/* A blocking sum: at once, or through the queue after the sums started before it. */
static cnn_status sum_blocking(mpi_user *u, void *values, size_t count, MPI_Datatype type,
                               size_t width, char *err, size_t errlen) {
    if (u->threaded) {
        cnn_status st = enqueue(u, values, count, type, width);
        if (st) {
            if (err && errlen) snprintf(err, errlen, "out of memory");
            return st;
        }
        return wait_sums(u, err, errlen);
    }
    const char *what = "";
    job j = {values, count, type, width};
    int rc = sum_now(u, &j, &what);
    return rc == MPI_SUCCESS ? CNN_STATUS_OK : mpi_fail(rc, what, err, errlen);
}

static cnn_status allreduce_sum(void *user, float *values, size_t count, char *err,
                                size_t errlen) {
    return sum_blocking(user, values, count, MPI_FLOAT, sizeof *values, err, errlen);
}

static cnn_status allreduce_sum_f64(void *user, double *values, size_t count, char *err,
                                    size_t errlen) {
    return sum_blocking(user, values, count, MPI_DOUBLE, sizeof *values, err, errlen);
}

cnn_status cnn_mpi_comm(MPI_Comm comm, cnn_train_comm *out, char *err, size_t errlen) {
    int rank, size, level, rc;
    *out = (cnn_train_comm){0};
    if ((rc = MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN)) != MPI_SUCCESS ||
        (rc = MPI_Comm_rank(comm, &rank)) != MPI_SUCCESS ||
        (rc = MPI_Comm_size(comm, &size)) != MPI_SUCCESS ||
        (rc = MPI_Query_thread(&level)) != MPI_SUCCESS)
        return mpi_fail(rc, "the communicator", err, errlen);
    mpi_user *u = calloc(1, sizeof *u);
    if (u) u->queue = malloc(16 * sizeof *u->queue);
    if (u) u->scratch = malloc(PIECE * sizeof(double));
    if (!u || !u->queue || !u->scratch) {
        if (u) free(u->queue), free(u->scratch), free(u);
        if (err && errlen) snprintf(err, errlen, "out of memory");
        return CNN_STATUS_NO_MEMORY;
    }
    u->comm = comm;
    u->cap = 16;
    u->error = MPI_SUCCESS;
    pthread_mutex_init(&u->lock, NULL);
    pthread_cond_init(&u->changed, NULL);
    u->threaded = level >= MPI_THREAD_SERIALIZED && size > 1 &&
                  pthread_create(&u->thread, NULL, sum_thread, u) == 0;
    *out = (cnn_train_comm){.rank = rank,
                            .size = size,
                            .allreduce_sum = allreduce_sum,
                            .allreduce_sum_f64 = allreduce_sum_f64,
                            .start_sum = u->threaded ? start_sum : NULL,
                            .wait_sums = u->threaded ? wait_sums : NULL,
                            .user = u};
    return CNN_STATUS_OK;
}

void cnn_mpi_comm_free(cnn_train_comm *comm) {
    mpi_user *u = comm->user;
    if (u && u->threaded) {
        pthread_mutex_lock(&u->lock);
        u->quit = 1;
        pthread_cond_broadcast(&u->changed);
        pthread_mutex_unlock(&u->lock);
        pthread_join(u->thread, NULL);
    }
    if (u) {
        pthread_mutex_destroy(&u->lock);
        pthread_cond_destroy(&u->changed);
        free(u->queue);
        free(u->scratch);
        free(u);
    }
    *comm = (cnn_train_comm){0};
}
