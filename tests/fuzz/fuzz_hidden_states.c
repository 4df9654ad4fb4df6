/*
 * Fuzz target: the `moekit forward --input` file, read by
 * cli_load_hidden_states() (tools/cmd_forward.c) for a model with hidden
 * size 64.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz_common.h"
#include "tools/cli.h"

#define HIDDEN 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char path[PATH_MAX];
    if (!path[0]) fz_path(path, sizeof path, "hidden.safetensors");
    fz_write(path, data, size);
    float *x = NULL;
    size_t T = 0;
    mk_error err = {0};
    int rc = cli_load_hidden_states(path, HIDDEN, &x, &T, &err);
    if (rc) {
        FZ_CHECK((rc == MK_ERR_INPUT || rc == MK_ERR_INTERNAL) && err.code == rc && err.msg[0]);
    } else {
        FZ_CHECK(x != NULL && T >= 1);
        volatile float sink = x[0] + x[T * HIDDEN - 1];
        (void)sink;
    }
    free(x); /* the caller frees x on both paths, as cmd_forward does */
    return 0;
}
