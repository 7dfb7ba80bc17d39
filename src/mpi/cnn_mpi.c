/*
 * cnn_mpi.c - libcnn_mpi: the cnn_train_comm of an MPI communicator (include/cnn_mpi.h).
 * Built apart from libcnn (the Makefile's MPI part), with mpicc.
 */
#include "cnn_mpi.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct mpi_user {
    MPI_Comm comm;
} mpi_user;

static cnn_status mpi_fail(int code, const char *what, char *err, size_t errlen) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(code, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "error %d", code);
    if (err && errlen) snprintf(err, errlen, "%s failed: %s", what, msg);
    return CNN_STATUS_IO;
}

/* The sum, reduced to rank 0 in MPI's order, then broadcast: the same bits on every rank, in
 * pieces of at most 2^28 values (MPI counts are ints). */
static cnn_status sum_over_ranks(mpi_user *u, void *values, size_t count, MPI_Datatype type,
                                 size_t width, char *err, size_t errlen) {
    int rank;
    MPI_Comm_rank(u->comm, &rank);
    for (size_t at = 0; at < count;) {
        int n = count - at > (1u << 28) ? 1 << 28 : (int)(count - at);
        char *p = (char *)values + at * width;
        int rc = MPI_Reduce(rank == 0 ? MPI_IN_PLACE : p, p, n, type, MPI_SUM, 0, u->comm);
        if (rc != MPI_SUCCESS) return mpi_fail(rc, "MPI_Reduce", err, errlen);
        rc = MPI_Bcast(p, n, type, 0, u->comm);
        if (rc != MPI_SUCCESS) return mpi_fail(rc, "MPI_Bcast", err, errlen);
        at += (size_t)n;
    }
    return CNN_STATUS_OK;
}

static cnn_status allreduce_sum(void *user, float *values, size_t count, char *err,
                                size_t errlen) {
    return sum_over_ranks(user, values, count, MPI_FLOAT, sizeof *values, err, errlen);
}

static cnn_status allreduce_sum_f64(void *user, double *values, size_t count, char *err,
                                    size_t errlen) {
    return sum_over_ranks(user, values, count, MPI_DOUBLE, sizeof *values, err, errlen);
}

cnn_status cnn_mpi_comm(MPI_Comm comm, cnn_train_comm *out, char *err, size_t errlen) {
    int rank, size, rc;
    *out = (cnn_train_comm){0};
    if ((rc = MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN)) != MPI_SUCCESS ||
        (rc = MPI_Comm_rank(comm, &rank)) != MPI_SUCCESS ||
        (rc = MPI_Comm_size(comm, &size)) != MPI_SUCCESS)
        return mpi_fail(rc, "the communicator", err, errlen);
    mpi_user *u = malloc(sizeof *u);
    if (!u) {
        if (err && errlen) snprintf(err, errlen, "out of memory");
        return CNN_STATUS_NO_MEMORY;
    }
    u->comm = comm;
    *out = (cnn_train_comm){.rank = rank,
                            .size = size,
                            .allreduce_sum = allreduce_sum,
                            .allreduce_sum_f64 = allreduce_sum_f64,
                            .user = u};
    return CNN_STATUS_OK;
}

void cnn_mpi_comm_free(cnn_train_comm *comm) {
    free(comm->user);
    *comm = (cnn_train_comm){0};
}
