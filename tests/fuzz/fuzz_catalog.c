/*
 * Fuzz target: a user GPU catalog (mk_gpu_catalog_parse, as `plan --catalog`
 * reads it), then look-ups.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "moekit/catalog.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mk_gpu_catalog c;
    mk_error err = {0};
    int rc = mk_gpu_catalog_parse((const char *)data, size, "gpus.yaml", &c, &err);
    if (rc) {
        FZ_CHECK((rc == MK_ERR_INPUT || rc == MK_ERR_INTERNAL) && err.code == rc && err.msg[0]);
        FZ_CHECK(c.gpus == NULL && c.n == 0);
        mk_gpu_catalog_free(&c);
        return 0;
    }
    FZ_CHECK(c.n > 0 && c.gpus != NULL);
    for (size_t i = 0; i < c.n; i++) {
        const mk_gpu *g = &c.gpus[i];
        FZ_CHECK(memchr(g->name, '\0', sizeof g->name) && g->name[0]);
        FZ_CHECK(memchr(g->label, '\0', sizeof g->label) != NULL);
        FZ_CHECK(g->mem_gib > 0 && isfinite(g->mem_gib));
        FZ_CHECK(mk_gpu_find(&c, g->name) == g);
    }
    (void)mk_gpu_find(&c, "h100");
    (void)mk_gpu_find(&c, "H100");
    (void)mk_gpu_find(&c, "");
    mk_gpu_catalog_free(&c);
    return 0;
}
