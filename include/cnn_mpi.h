/*
 * cnn_mpi.h - data-parallel training over MPI (docs/DISTRIBUTED.md): a cnn_train_comm for an
 * MPI communicator. libcnn itself never needs MPI; this binding is libcnn_mpi, built when MPI
 * is present (mpicc), and a program using it links with -lcnn_mpi -lcnn and MPI's flags.
 *
 *   MPI_Init(&argc, &argv);
 *   cnn_train_comm comm;
 *   cnn_mpi_comm(MPI_COMM_WORLD, &comm, err, sizeof err);
 *   cfg.comm = &comm;                     every rank: the same data, seed and settings
 *   cnn_trainer_new(net, train, val, &cfg, &tr, err, sizeof err);
 *   cnn_trainer_run(tr);                  rank 0 writes the checkpoints
 *   cnn_mpi_comm_free(&comm);
 *   MPI_Finalize();
 */
#ifndef CNN_MPI_H
#define CNN_MPI_H

#include "cnn.h"

#include <mpi.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A comm over the ranks of comm (kept, not duplicated: it must outlive the trainer). Its sum
 * is reduced to rank 0 and broadcast, so that every rank holds the same bits whatever the
 * reduction's order; errors on comm return to the caller (MPI_ERRORS_RETURN) and are reported
 * with MPI's message. */
cnn_status cnn_mpi_comm(MPI_Comm comm, cnn_train_comm *out, char *err, size_t errlen);

/* Releases what cnn_mpi_comm allocated. Accepts a zeroed comm. */
void cnn_mpi_comm_free(cnn_train_comm *comm);

#ifdef __cplusplus
}
#endif

#endif /* CNN_MPI_H */
