/*
 * cli.h - the cnn tool's commands. Each takes the arguments after its name and returns the
 * exit code: 0 success, 1 the work failed, 2 a usage error.
 */
#ifndef CNN_CLI_H
#define CNN_CLI_H

#include "cnn.h"

#include <stdio.h>

int cli_train(int argc, char **argv);
void cli_train_help(FILE *f);
int cli_recipes(int argc, char **argv);
void cli_recipes_help(FILE *f);
int cli_eval(int argc, char **argv);
int cli_quantize(int argc, char **argv);
void cli_quantize_help(FILE *f);
int cli_ensemble(int argc, char **argv);
void cli_ensemble_help(FILE *f);
void cli_eval_help(FILE *f);
int cli_predict(int argc, char **argv);
void cli_predict_help(FILE *f);
int cli_serve(int argc, char **argv);
void cli_serve_help(FILE *f);

int cli_viz(int argc, char **argv);
/* Help of `cnn viz` (what NULL) or of `cnn viz WHAT`. */
void cli_viz_help(FILE *f, const char *what);

int cli_models(int argc, char **argv);
int cli_def(int argc, char **argv);
int cli_summary(int argc, char **argv);
int cli_infer(int argc, char **argv);
void cli_infer_help(FILE *f);
void cli_summary_help(FILE *f);
/* summary --profile (profile.c): times `steps` forward passes (mode "forward") or training
 * steps ("train") of batch `batch` on `threads` threads, after a warm-up step, and prints each
 * layer's time. Returns the exit code; messages start with "cnn CMD:". */
int cli_profile_net(const char *cmd, cnn_net *net, const char *mode, int batch, int threads,
                    int steps);
/* Data-parallel training under mpirun (dist.c): *comm is the trainer's comm, or NULL when this
 * is the only process; 0 (with a message) when the job cannot train. cli_dist_end ends MPI,
 * aborting the job when this rank failed (exit code failed != 0). */
int cli_dist_start(const cnn_train_comm **comm);
void cli_dist_end(int failed);
int cli_import(int argc, char **argv);
void cli_import_help(FILE *f);
int cli_export(int argc, char **argv);
void cli_export_help(FILE *f);

#endif
