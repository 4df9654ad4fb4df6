/*
 * Fuzz target: the safetensors reader (mk_st_open and everything a caller
 * does with an opened file).  The input is the whole file.
 */
#include <stdint.h>
#include <string.h>

#include "moekit/model.h"
#include "moekit/safetensors.h"
#include "tests/fuzz/fuzz_common.h"

static void check_error(int rc, const mk_error *err) {
    FZ_CHECK(rc == MK_ERR_INPUT || rc == MK_ERR_INTERNAL);
    FZ_CHECK(err->code == rc && err->msg[0] != '\0');
    FZ_CHECK(memchr(err->msg, '\0', sizeof err->msg) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char path[PATH_MAX];
    if (!path[0]) fz_path(path, sizeof path, "input.safetensors");
    fz_write(path, data, size);

    mk_error err = {0};
    mk_st_file *f = (mk_st_file *)1;
    int rc = mk_st_open(path, &f, &err);
    if (rc) {
        FZ_CHECK(f == NULL);
        check_error(rc, &err);
        return 0;
    }
    FZ_CHECK(f != NULL && err.code == MK_OK);
    FZ_CHECK(mk_st_file_bytes(f) == size);
    uint64_t header = mk_st_header_bytes(f);
    FZ_CHECK(header <= size - 8);
    uint64_t data_len = size - 8 - header;
    volatile uint8_t sink = 0;
    size_t n = mk_st_count(f);
    uint64_t prev_end = 0;
    for (size_t i = 0; i < n; i++) {
        const mk_tensor_info *t = mk_st_tensor(f, i);
        FZ_CHECK(t != NULL && t->name != NULL);
        FZ_CHECK(t->ndim >= 0 && t->ndim <= MK_MAX_DIMS);
        FZ_CHECK((unsigned)t->dtype < MK_DT_COUNT);
        /* Tensors come in data-offset order and tile the data section. */
        FZ_CHECK(t->begin == prev_end && t->end >= t->begin && t->end <= data_len);
        FZ_CHECK(t->n_elems * mk_dtype_size(t->dtype) == t->end - t->begin);
        prev_end = t->end;
        const uint8_t *d = mk_st_data(f, t);
        FZ_CHECK(d != NULL);
        /* The reader refuses misaligned tensors: typed reads must be safe. */
        FZ_CHECK((uintptr_t)d % mk_dtype_size(t->dtype) == 0);
        if (t->end > t->begin) sink ^= d[0] ^ d[t->end - t->begin - 1];
        FZ_CHECK(mk_st_find(f, t->name) == t);
        /* Tensor names are untrusted: classify them as inspect/convert do. */
        mk_tensor_role role;
        mk_classify(NULL, t->name, &role);
        FZ_CHECK(role.suffix_off <= strlen(t->name));
        if (i == 0) mk_st_release(f, t, 0, t->end - t->begin);
    }
    FZ_CHECK(prev_end == data_len);
    FZ_CHECK(mk_st_tensor(f, n) == NULL);
    (void)mk_st_find(f, "hidden_states");
    (void)mk_st_find(f, "");
    const char *fmt = mk_st_metadata(f, "format");
    if (fmt) sink ^= (uint8_t)fmt[0];
    FZ_CHECK(strcmp(mk_st_path(f), path) == 0);
    (void)sink;
    mk_st_close(f);
    return 0;
}
