/*
 * mpi_allreduce.c - the time of the trainer's sum over the ranks (cnn_mpi_comm's: reduce to
 * rank 0, then broadcast) for message sizes from 4 KB to 64 MB, and of MPI_Allreduce for
 * comparison; the figures docs/DISTRIBUTED.md fits its step-time model to.
 *   mpirun -np 2 build/bench/mpi_allreduce            (shared memory)
 *   mpirun -np 2 --mca btl tcp,self build/bench/mpi_allreduce     (TCP, as between machines)
 * Prints one line per size: bytes, microseconds (median of the repetitions) of each.
 */
#include "cnn_mpi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    cnn_train_comm comm;
    char err[256];
    if (cnn_mpi_comm(MPI_COMM_WORLD, &comm, err, sizeof err)) MPI_Abort(MPI_COMM_WORLD, 1);
    size_t max = (size_t)16 << 20; /* floats: 64 MB */
    float *buf = malloc(max * sizeof *buf);
    for (size_t i = 0; i < max; i++) buf[i] = (float)(i % 97) * 1e-3f;
    if (rank == 0) printf("%12s %14s %14s   (%d ranks, median microseconds)\n", "bytes",
                          "reduce+bcast", "MPI_Allreduce", size);
    for (size_t n = 1024; n <= max; n *= 4) {
        int reps = n <= 65536 ? 200 : n <= (1 << 20) ? 40 : 8;
        double t[2][200];
        for (int r = 0; r < reps; r++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            comm.allreduce_sum(comm.user, buf, n, err, sizeof err);
            double t1 = MPI_Wtime();
            MPI_Barrier(MPI_COMM_WORLD);
            double t2 = MPI_Wtime();
            MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            double t3 = MPI_Wtime();
            t[0][r] = (t1 - t0) * 1e6;
            t[1][r] = (t3 - t2) * 1e6;
            for (size_t i = 0; i < n; i++) buf[i] *= 1.0f / (float)size; /* keep values bounded */
        }
        qsort(t[0], (size_t)reps, sizeof(double), cmp);
        qsort(t[1], (size_t)reps, sizeof(double), cmp);
        if (rank == 0) printf("%12zu %14.1f %14.1f\n", n * sizeof(float), t[0][reps / 2], t[1][reps / 2]);
    }
    free(buf);
    cnn_mpi_comm_free(&comm);
    MPI_Finalize();
    return 0;
}
