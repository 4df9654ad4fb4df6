/* `moekit synth`: argument parsing and printing around mk_synth(). */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "moekit/synth.h"
#include "tools/cli.h"

static void help(FILE *out) {
    fprintf(out,
            "usage: moekit synth OUT [OPTIONS]\n"
            "\n"
            "Write a small synthetic checkpoint with the real config keys, tensor names and\n"
            "shapes of an architecture. Same options -> byte-identical files.\n"
            "\n"
            "  --arch A          mixtral | qwen2-moe | qwen3-moe | deepseek-v3 (default deepseek-v3)\n"
            "  --layers N        decoder layers (default 4; DeepSeek-V3 adds one MTP layer)\n"
            "  --hidden H        hidden size, a multiple of 64 (default 256)\n"
            "  --experts E       routed experts per MoE layer (default 8)\n"
            "  --topk K          experts per token (default 2)\n"
            "  --moe-inter I     expert intermediate size (default 128)\n"
            "  --vocab V         vocabulary size (default 512)\n"
            "  --dtype D         bf16 | f16 | f32 (default bf16)\n"
            "  --shards N        number of files; 1 writes model.safetensors without index (default 2)\n"
            "  --seed S          random seed (default 0)\n"
            "  --no-outliers     plain N(0, 0.02) weights without outlier input channels\n"
            "  --force           write into a non-empty folder\n"
            "  --json            print a JSON summary\n"
            "  -h, --help        this help\n");
}

int cmd_synth(int argc, char **argv) {
    static const struct option opts[] = {
        {"arch", required_argument, 0, 'a'},   {"layers", required_argument, 0, 'l'},
        {"hidden", required_argument, 0, 'H'}, {"experts", required_argument, 0, 'e'},
        {"topk", required_argument, 0, 'k'},   {"moe-inter", required_argument, 0, 'i'},
        {"vocab", required_argument, 0, 'V'},  {"dtype", required_argument, 0, 'd'},
        {"shards", required_argument, 0, 's'}, {"seed", required_argument, 0, 'S'},
        {"force", no_argument, 0, 'f'},        {"json", no_argument, 0, 'j'},
        {"no-outliers", no_argument, 0, 'o'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0},
    };
    mk_synth_opts o;
    mk_synth_defaults(&o);
    bool json = false;
    long long v;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'a': o.arch = optarg; break;
        case 'l':
            if (!cli_parse_int(optarg, 1, 1000, &v))
                return cli_fail("synth", 2, "--layers: '%s' is not an integer in [1, 1000]", optarg);
            o.layers = (int)v;
            break;
        case 'H':
            if (!cli_parse_int(optarg, 64, 65536, &v))
                return cli_fail("synth", 2, "--hidden: '%s' is not an integer in [64, 65536]", optarg);
            o.hidden = v;
            break;
        case 'e':
            if (!cli_parse_int(optarg, 1, 4096, &v))
                return cli_fail("synth", 2, "--experts: '%s' is not an integer in [1, 4096]", optarg);
            o.experts = (int)v;
            break;
        case 'k':
            if (!cli_parse_int(optarg, 1, 4096, &v))
                return cli_fail("synth", 2, "--topk: '%s' is not an integer in [1, 4096]", optarg);
            o.topk = (int)v;
            break;
        case 'i':
            if (!cli_parse_int(optarg, 1, 1 << 20, &v))
                return cli_fail("synth", 2, "--moe-inter: '%s' is not an integer in [1, 1048576]", optarg);
            o.moe_inter = v;
            break;
        case 'V':
            if (!cli_parse_int(optarg, 1, 1 << 22, &v))
                return cli_fail("synth", 2, "--vocab: '%s' is not an integer in [1, 4194304]", optarg);
            o.vocab = v;
            break;
        case 'd':
            if (strcmp(optarg, "bf16") == 0) o.dtype = MK_DT_BF16;
            else if (strcmp(optarg, "f16") == 0) o.dtype = MK_DT_F16;
            else if (strcmp(optarg, "f32") == 0) o.dtype = MK_DT_F32;
            else return cli_fail("synth", 2, "--dtype: '%s' is not bf16, f16 or f32", optarg);
            break;
        case 's':
            if (!cli_parse_int(optarg, 1, 99999, &v))
                return cli_fail("synth", 2, "--shards: '%s' is not an integer in [1, 99999]", optarg);
            o.shards = (int)v;
            break;
        case 'S':
            if (!cli_parse_int(optarg, 0, 0x7fffffffffffffffLL, &v))
                return cli_fail("synth", 2, "--seed: '%s' is not a non-negative integer", optarg);
            o.seed = (uint64_t)v;
            break;
        case 'f': o.force = true; break;
        case 'o': o.no_outliers = true; break;
        case 'j': json = true; break;
        case 'h': help(stdout); return 0;
        case ':': return cli_fail("synth", 2, "option '%s' needs a value", argv[optind - 1]);
        default: return cli_fail("synth", 2, "unknown option '%s' (see --help)", argv[optind - 1]);
        }
    }
    if (optind != argc - 1) {
        help(stderr);
        return 2;
    }
    const char *out = argv[optind];
    cli_progress pg;
    cli_progress_init(&pg, "synth");
    o.progress = cli_progress_cb;
    o.progress_ctx = &pg;
    mk_synth_result res;
    mk_error err = {0};
    int rc = mk_synth_ex(out, &o, &res, &err);
    cli_progress_end(&pg);
    if (rc) return cli_report("synth", &err);
    if (json) {
        json_t *j = json_pack("{s:s, s:s, s:I, s:I, s:I, s:i}", "path", out, "arch", o.arch,
                              "tensors", (json_int_t)res.n_tensors, "parameters",
                              (json_int_t)res.n_params, "bytes", (json_int_t)res.data_bytes,
                              "files", res.n_files);
        json_dumpf(j, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(j);
    } else {
        char a[32], b[32];
        printf("wrote %s: %s, %llu tensors, %s parameters, %s in %d file%s\n", out, o.arch,
               (unsigned long long)res.n_tensors, cli_count(res.n_params, a, sizeof a),
               cli_bytes(res.data_bytes, b, sizeof b), res.n_files, res.n_files == 1 ? "" : "s");
    }
    return 0;
}
