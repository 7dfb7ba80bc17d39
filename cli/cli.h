/*
 * cli.h - the cnn tool's commands. Each takes the arguments after its name and returns the
 * exit code: 0 success, 1 the work failed, 2 a usage error.
 */
#ifndef CNN_CLI_H
#define CNN_CLI_H

#include <stdio.h>

int cli_train(int argc, char **argv);
void cli_train_help(FILE *f);
int cli_eval(int argc, char **argv);
void cli_eval_help(FILE *f);
int cli_predict(int argc, char **argv);
void cli_predict_help(FILE *f);

int cli_viz(int argc, char **argv);
/* Help of `cnn viz` (what NULL) or of `cnn viz WHAT`. */
void cli_viz_help(FILE *f, const char *what);

int cli_models(int argc, char **argv);
int cli_def(int argc, char **argv);
int cli_summary(int argc, char **argv);
int cli_infer(int argc, char **argv);
void cli_infer_help(FILE *f);
void cli_summary_help(FILE *f);
int cli_import(int argc, char **argv);
void cli_import_help(FILE *f);
int cli_export(int argc, char **argv);
void cli_export_help(FILE *f);

#endif
