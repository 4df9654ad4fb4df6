/*
 * moekit - command-line front end.  Each subcommand lives in its own
 * tools/cmd_*.c and only parses arguments and prints; the work is in
 * libmoekit.  Exit status: 0 success, 1 internal error, 2 bad input or usage.
 */
#include <stdio.h>
#include <string.h>

#include "tools/cli.h"

#define MOEKIT_VERSION "0.1.0"

static const struct {
    const char *name;
    cli_cmd_fn fn;
    const char *summary;
} k_cmds[] = {
    {"inspect", cmd_inspect, "architecture, layers, experts, dtypes, parameter counts, findings"},
    {"convert", cmd_convert, "quantize to FP8 / INT8 per-expert shards that vLLM and SGLang load"},
    {"merge", cmd_merge, "finish a conversion run as --part I/N pieces: index, config, manifest"},
    {"plan", cmd_plan, "VRAM per GPU and the smallest GPU count for a model, format and KV budget"},
    {"pack", cmd_pack, "lossless archive of a checkpoint: byte planes + zstd, per-chunk hashes"},
    {"unpack", cmd_unpack, "extract an archive (all, or --only some files), verified"},
    {"forward", cmd_forward, "run one layer's reference FP32 MoE / MLP block on given hidden states"},
    {"validate", cmd_validate, "quantization error vs a reference: SQNR, cosine, router flips, per expert"},
    {"verify", cmd_verify, "check a converted checkpoint: layout, scales, config, manifest hashes"},
    {"synth", cmd_synth, "write a small, structurally faithful synthetic MoE checkpoint"},
};

static void usage(FILE *out) {
    fprintf(out,
            "usage: moekit COMMAND [OPTIONS]\n"
            "\n"
            "Quantize, validate and plan Mixture-of-Experts checkpoints.\n"
            "\n"
            "commands:\n");
    for (size_t i = 0; i < sizeof k_cmds / sizeof *k_cmds; i++)
        fprintf(out, "  %-10s %s\n", k_cmds[i].name, k_cmds[i].summary);
    fprintf(out,
            "\n"
            "Run 'moekit COMMAND --help' for a command's options.\n"
            "Exit status: 0 success, 1 internal error, 2 bad input or usage.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    cli_install_signals();
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        if (argc > 2 && strcmp(cmd, "help") == 0) {
            for (size_t i = 0; i < sizeof k_cmds / sizeof *k_cmds; i++)
                if (strcmp(argv[2], k_cmds[i].name) == 0) {
                    char *args[] = {argv[2], "--help", NULL};
                    return k_cmds[i].fn(2, args);
                }
        }
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("moekit %s\n", MOEKIT_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof k_cmds / sizeof *k_cmds; i++)
        if (strcmp(cmd, k_cmds[i].name) == 0) return k_cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "moekit: unknown command '%s' (run 'moekit --help')\n", cmd);
    return 2;
}
