/*
 * dist.c - cnn train under mpirun: data-parallel training over MPI (docs/DISTRIBUTED.md).
 * Built with MPI (CNN_WITH_MPI, when the Makefile finds mpicc), a cnn started by mpirun or srun
 * initialises MPI and trains with every rank; without MPI, being started as one of several
 * ranks is an error rather than N independent runs writing the same files.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>

#ifdef CNN_WITH_MPI
#include "cnn_mpi.h"
#endif

/* The number of ranks the launcher says this process is one of (1 when not launched so). */
static int launched_size(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE",
                                       "SLURM_NTASKS", NULL};
    for (int i = 0; vars[i]; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) > 1) return atoi(v);
    }
    return 1;
}

#ifdef CNN_WITH_MPI
static cnn_train_comm comm;
static int started;

int cli_dist_start(const cnn_train_comm **out) {
    *out = NULL;
    if (launched_size() <= 1) return 1;
    char err[1024];
    int provided;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "cnn train: MPI could not start\n");
        return 0;
    }
    started = 1;
    if (cnn_mpi_comm(MPI_COMM_WORLD, &comm, err, sizeof err)) {
        fprintf(stderr, "cnn train: %s\n", err);
        return 0;
    }
    *out = &comm;
    return 1;
}

void cli_dist_end(int failed) {
    if (!started) return;
    cnn_mpi_comm_free(&comm);
    /* A rank that failed alone would leave the others waiting in a sum: end the job. */
    if (failed) MPI_Abort(MPI_COMM_WORLD, failed);
    MPI_Finalize();
    started = 0;
}
#else
int cli_dist_start(const cnn_train_comm **out) {
    *out = NULL;
    if (launched_size() <= 1) return 1;
    fprintf(stderr, "cnn train: started as one of %d ranks (mpirun?), but this cnn was built "
            "without MPI: install libopenmpi-dev and rebuild (docs/DISTRIBUTED.md)\n",
            launched_size());
    return 0;
}

void cli_dist_end(int failed) { (void)failed; }
#endif
