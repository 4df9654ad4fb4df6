/* `moekit verify`: runs mk_verify() on a folder and prints one line or JSON. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "moekit/verify.h"
#include "tools/cli.h"

static void help(FILE *out) {
    fprintf(out,
            "usage: moekit verify DIR [--json]\n"
            "\n"
            "Check that a checkpoint folder (converted by moekit or any FP8/INT8 checkpoint in\n"
            "the DeepSeek FP8, vLLM fp8 or compressed-tensors forms) loads as its config says:\n"
            "  - every shard is valid safetensors, model.safetensors.index.json lists every\n"
            "    tensor in the shard that holds it and every .safetensors file of the folder,\n"
            "    and its metadata.total_size matches;\n"
            "  - config.json's quantization_config names a supported scheme (fp8-block,\n"
            "    fp8-tensor, fp8-channel, fp8-ct-block, int8-channel, int8-group) and every\n"
            "    quantized weight has its scale with the dtype and shape the scheme needs,\n"
            "    no scale is orphaned, ignored modules are unquantized and every other\n"
            "    linear weight is quantized;\n"
            "  - when moekit.json is present, every file it lists has its size and xxhash64\n"
            "    (this reads every byte of the checkpoint).\n"
            "Stops at the first problem and names the file and tensor or key at fault.\n"
            "\n"
            "  --json       machine-readable result on stdout\n"
            "  -h, --help   this help\n"
            "\n"
            "Exit status: 0 verified, 2 the folder has a problem, 1 internal error.\n");
}

int cmd_verify(int argc, char **argv) {
    static const struct option opts[] = {
        {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    bool json = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = true; break;
        case 'h': help(stdout); return 0;
        case ':': return cli_fail("verify", 2, "option '%s' needs a value", argv[optind - 1]);
        default: return cli_fail("verify", 2, "unknown option '%s' (see --help)", argv[optind - 1]);
        }
    }
    if (optind != argc - 1) {
        help(stderr);
        return 2;
    }
    const char *dir = argv[optind];
    mk_verify_report r;
    mk_error err = {0};
    char real[4096];
    bool tmp;
    int orc = cli_open_input("verify", dir, real, sizeof real, &tmp);
    if (orc) return orc;
    int vrc = mk_verify(real, &r, &err);
    cli_close_input(real, tmp);
    if (vrc) return cli_report("verify", &err);
    if (json) {
        json_t *j = json_object();
        json_object_set_new(j, "path", json_string(dir));
        json_object_set_new(j, "scheme", json_string(r.scheme));
        json_object_set_new(j, "files", json_integer((json_int_t)r.n_files));
        json_object_set_new(j, "tensors", json_integer((json_int_t)r.n_tensors));
        json_object_set_new(j, "quantized", json_integer((json_int_t)r.n_quantized));
        json_object_set_new(j, "manifest", json_boolean(r.has_manifest));
        json_object_set_new(j, "manifest_files", json_integer((json_int_t)r.n_manifest_files));
        json_dumpf(j, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(j);
        return 0;
    }
    printf("verified %s: %s, %llu file%s, %llu tensors (%llu quantized), ", dir, r.scheme,
           (unsigned long long)r.n_files, r.n_files == 1 ? "" : "s",
           (unsigned long long)r.n_tensors, (unsigned long long)r.n_quantized);
    if (r.has_manifest)
        printf("manifest: %llu %s\n", (unsigned long long)r.n_manifest_files,
               r.n_manifest_files == 1 ? "file matches" : "files match");
    else
        printf("no manifest\n");
    return 0;
}
