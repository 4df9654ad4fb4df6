/*
 * Fuzz target: a sharded checkpoint's model.safetensors.index.json.
 *
 * The folder holds the index (the fuzz input) and two small valid shards
 * made once at start-up: a.safetensors with "x" (F32 [2]) and "w" (BF16
 * [2, 2]), b.safetensors with "y" (BF16 [3]).  Each input is opened with
 * mk_ckpt_open, fully loaded (every shard opened and cross-checked against the
 * index) and searched for "x" and "y".
 */
#include <stdint.h>
#include <string.h>

#include "moekit/checkpoint.h"
#include "tests/fuzz/fuzz_common.h"

/* A valid safetensors file: the JSON header padded with spaces to a multiple
 * of 8, then `data_len` bytes of data. */
static void write_shard(const char *name, const char *header_json, size_t data_len) {
    char path[PATH_MAX];
    fz_path(path, sizeof path, name);
    size_t hl = strlen(header_json), padded = (hl + 7) / 8 * 8;
    size_t total = 8 + padded + data_len;
    uint8_t *buf = calloc(1, total);
    if (!buf) abort();
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    memcpy(buf + 8, header_json, hl);
    memset(buf + 8 + hl, ' ', padded - hl);
    for (size_t i = 0; i < data_len; i++) buf[8 + padded + i] = (uint8_t)(i * 37 + 1);
    fz_write(path, buf, total);
    free(buf);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    write_shard("a.safetensors",
                "{\"__metadata__\":{\"format\":\"pt\"},"
                "\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                "\"w\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[8,16]}}",
                16);
    write_shard("b.safetensors",
                "{\"y\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,6]}}", 6);
    return 0;
}

static void find(mk_ckpt *c, const char *name) {
    mk_error err = {0};
    const mk_st_file *f = NULL;
    const mk_tensor_info *t = NULL;
    int rc = mk_ckpt_find(c, name, &f, &t, &err);
    if (rc) {
        FZ_CHECK(err.code == rc && err.msg[0]);
        return;
    }
    FZ_CHECK(f && t && strcmp(t->name, name) == 0);
    volatile uint8_t sink = 0;
    if (t->end > t->begin) sink ^= ((const uint8_t *)mk_st_data(f, t))[t->end - t->begin - 1];
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char index_path[PATH_MAX];
    if (!index_path[0]) fz_path(index_path, sizeof index_path, MK_INDEX_NAME);
    fz_write(index_path, data, size);

    mk_error err = {0};
    mk_ckpt *c = (mk_ckpt *)1;
    int rc = mk_ckpt_open(fz_tmpdir(), &c, &err);
    if (rc) {
        FZ_CHECK(c == NULL);
        FZ_CHECK((rc == MK_ERR_INPUT || rc == MK_ERR_INTERNAL) && err.code == rc && err.msg[0]);
        return 0;
    }
    FZ_CHECK(c != NULL && mk_ckpt_has_index(c));
    FZ_CHECK(strcmp(mk_ckpt_dir(c), fz_tmpdir()) == 0);
    (void)mk_ckpt_index_total_size(c);
    size_t nf = mk_ckpt_n_files(c);
    for (size_t i = 0; i < nf; i++) {
        const char *name = mk_ckpt_file_name(c, i);
        FZ_CHECK(name && *name && !strchr(name, '/'));
    }
    for (size_t i = 0; i < mk_ckpt_n_tensors(c); i++) {
        FZ_CHECK(mk_ckpt_tensor_name(c, i) != NULL);
        FZ_CHECK(mk_ckpt_tensor_file(c, i) < nf);
    }
    find(c, "x"); /* before load_all: the lazy path */
    rc = mk_ckpt_load_all(c, &err);
    if (rc) {
        FZ_CHECK(err.code == rc && err.msg[0]);
    } else {
        for (size_t i = 0; i < mk_ckpt_n_unlisted(c); i++) FZ_CHECK(mk_ckpt_unlisted(c, i) != NULL);
        for (size_t i = 0; i < nf; i++) {
            mk_st_file *f = NULL;
            mk_error e2 = {0};
            FZ_CHECK(mk_ckpt_file(c, i, &f, &e2) == MK_OK && f != NULL);
        }
    }
    find(c, "x");
    find(c, "y");
    find(c, "nope");
    mk_ckpt_close(c);
    return 0;
}
