/*
 * tools/cli.h - what every `moekit` subcommand shares: error printing in the
 * one-line house style, number parsing for options, and a progress bar that
 * only draws on a terminal.
 */
#ifndef MK_TOOLS_CLI_H
#define MK_TOOLS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "moekit/error.h"

/* Prints "moekit CMD: message" on stderr and returns `code`. */
int cli_fail(const char *cmd, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prints an mk_error the same way and returns its code. */
int cli_report(const char *cmd, const mk_error *err);

/* Parses a decimal integer in [min, max]; false on anything else. */
bool cli_parse_int(const char *s, long long min, long long max, long long *out);
/* Parses "5GB", "512MiB", "1000" (bytes); false on anything else. */
bool cli_parse_size(const char *s, uint64_t *out);
/* "1.50 GiB" style. */
const char *cli_bytes(uint64_t n, char *buf, int cap);
/* "685.4B" / "3.95M" style parameter counts. */
const char *cli_count(uint64_t n, char *buf, int cap);

typedef struct cli_progress {
    const char *label;
    double start;
    double last_draw;
    bool enabled; /* stderr is a terminal */
} cli_progress;

void cli_progress_init(cli_progress *p, const char *label);
bool cli_stderr_is_tty(void);
/* Signal handling for every command: clean up temporaries on SIGINT/TERM/HUP/BUS. */
void cli_install_signals(void);
/* Callback shape used by the library: bytes done / total. */
void cli_progress_cb(uint64_t done, uint64_t total, void *ctx);
void cli_progress_end(cli_progress *p);

typedef int (*cli_cmd_fn)(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_forward(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_pack(int argc, char **argv);
int cmd_unpack(int argc, char **argv);
/* A checkpoint argument that is a `moekit pack` archive is unpacked and
 * verified into a temporary folder: `dir` gets the folder to use. Returns 0
 * or an exit status (message printed). */
int cli_open_input(const char *cmd, const char *path, char *dir, size_t cap, bool *is_temp);
void cli_close_input(const char *dir, bool is_temp);
int cmd_validate(int argc, char **argv);

struct mk_validate_report;
/* Reads `hidden_states` [T, hidden] (F32/BF16/F16) as F32 (cmd_forward.c). */
int cli_load_hidden_states(const char *path, int64_t hidden, float **x, size_t *T, mk_error *err);
/* Writes the self-contained HTML report of a validation (report_html.c). */
int cli_write_report_html(const char *path, const struct mk_validate_report *r, const char *ref,
                          const char *quant, mk_error *err);

#endif
