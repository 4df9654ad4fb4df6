/* safetensors writer layout and reader acceptance of the edge cases the
 * reference accepts.  Malformed files are covered end to end by
 * tests/cli/make_bad.py through `moekit inspect`; a few are repeated here to
 * check the library's error codes and messages directly. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"
#include "moekit/safetensors.h"

static int count_dir_entries(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.' || (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))) n++;
    if (d) closedir(d);
    return n;
}

static void fill(uint8_t *p, size_t n, uint8_t seed) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(seed + i * 7);
}

TEST(writer_orders_by_dtype_then_name_and_aligns) {
    const char *path = mk_test_path("a.safetensors");
    mk_st_decl d[] = {
        {"u8", MK_DT_U8, 1, {3}},        {"f32b", MK_DT_F32, 2, {2, 3}},
        {"bf16", MK_DT_BF16, 1, {5}},    {"i64", MK_DT_I64, 0, {0}},
        {"f16", MK_DT_F16, 2, {0, 4}},   {"f32a", MK_DT_F32, 1, {1}},
    };
    size_t n = sizeof d / sizeof *d;
    mk_st_writer *w;
    mk_error err = {0};
    CHECK_EQ_INT(mk_st_writer_open(path, d, n, NULL, NULL, 0, &w, &err), MK_OK);
    const char *order[] = {"i64", "f32a", "f32b", "bf16", "f16", "u8"};
    for (size_t i = 0; i < n; i++) CHECK(strcmp(mk_st_writer_tensor(w, i)->name, order[i]) == 0);
    uint8_t buf[64];
    for (size_t i = 0; i < n; i++) {
        const mk_tensor_info *t = mk_st_writer_tensor(w, i);
        size_t bytes = (size_t)(t->end - t->begin);
        fill(buf, bytes, (uint8_t)i);
        /* write in two pieces to exercise offsets */
        CHECK_EQ_INT(mk_st_writer_write(w, i, 0, buf, bytes / 2, &err), MK_OK);
        CHECK_EQ_INT(mk_st_writer_write(w, i, bytes / 2, buf + bytes / 2, bytes - bytes / 2, &err), MK_OK);
    }
    uint64_t want_size = mk_st_writer_file_bytes(w);
    CHECK_EQ_INT(mk_st_writer_finish(w, &err), MK_OK);
    CHECK_EQ_INT(count_dir_entries(mk_test_tmpdir()), 1); /* no temporary left */

    mk_st_file *f;
    CHECK_EQ_INT(mk_st_open(path, &f, &err), MK_OK);
    CHECK_EQ_INT(mk_st_file_bytes(f), want_size);
    CHECK_EQ_INT(mk_st_header_bytes(f) % 8, 0);
    CHECK(mk_st_metadata(f, "format") && strcmp(mk_st_metadata(f, "format"), "pt") == 0);
    CHECK_EQ_INT(mk_st_count(f), n);
    for (size_t i = 0; i < n; i++) {
        const mk_tensor_info *t = mk_st_tensor(f, i);
        CHECKF(strcmp(t->name, order[i]) == 0, "tensor %zu is %s, expected %s", i, t->name, order[i]);
        uint64_t abs_off = 8 + mk_st_header_bytes(f) + t->begin;
        CHECKF(abs_off % mk_dtype_size(t->dtype) == 0, "%s at %llu not aligned", t->name,
               (unsigned long long)abs_off);
        fill(buf, (size_t)(t->end - t->begin), (uint8_t)i);
        CHECK(memcmp(mk_st_data(f, t), buf, (size_t)(t->end - t->begin)) == 0);
        CHECK(mk_st_find(f, order[i]) == t);
    }
    CHECK(mk_st_find(f, "nope") == NULL);
    const mk_tensor_info *s = mk_st_find(f, "i64");
    CHECK_EQ_INT(s->ndim, 0);
    CHECK_EQ_INT(s->n_elems, 1);
    mk_st_close(f);

    /* The raw header starts exactly as the reference writer's does. */
    FILE *fp = fopen(path, "rb");
    char head[64] = {0};
    CHECK(fp && fread(head, 1, 48, fp) == 48);
    fclose(fp);
    CHECK(memcmp(head + 8, "{\"__metadata__\":{\"format\":\"pt\"},\"i64\":{\"dtype\":\"I64\"", 40) == 0);
}

TEST(writer_incomplete_tensor_fails_and_leaves_nothing) {
    const char *path = mk_test_path("b.safetensors");
    mk_st_decl d[] = {{"x", MK_DT_F32, 1, {4}}};
    mk_st_writer *w;
    mk_error err = {0};
    CHECK_EQ_INT(mk_st_writer_open(path, d, 1, NULL, NULL, 0, &w, &err), MK_OK);
    float v[4] = {1, 2, 3, 4};
    CHECK_EQ_INT(mk_st_writer_write(w, 0, 0, v, 8, &err), MK_OK);
    CHECK(mk_st_writer_finish(w, &err) != MK_OK);
    CHECK_STR_CONTAINS(err.msg, "8 of 16 bytes written");
    CHECK_EQ_INT(count_dir_entries(mk_test_tmpdir()), 0);
}

TEST(writer_rejects_out_of_range_write_and_duplicates) {
    const char *path = mk_test_path("c.safetensors");
    mk_st_decl d[] = {{"x", MK_DT_F32, 1, {4}}, {"y", MK_DT_U8, 1, {1}}};
    mk_st_writer *w;
    mk_error err = {0};
    CHECK_EQ_INT(mk_st_writer_open(path, d, 2, NULL, NULL, 0, &w, &err), MK_OK);
    float v[8] = {0};
    CHECK(mk_st_writer_write(w, 0, 4, v, 16, &err) != MK_OK);
    CHECK_STR_CONTAINS(err.msg, "past its 16 bytes");
    mk_st_writer_abort(w);
    CHECK_EQ_INT(count_dir_entries(mk_test_tmpdir()), 0);
    mk_st_decl dup[] = {{"x", MK_DT_F32, 1, {4}}, {"x", MK_DT_U8, 1, {1}}};
    mk_error e2 = {0};
    CHECK_EQ_INT(mk_st_writer_open(path, dup, 2, NULL, NULL, 0, &w, &e2), MK_ERR_INPUT);
    CHECK_STR_CONTAINS(e2.msg, "declared twice");
    CHECK_EQ_INT(count_dir_entries(mk_test_tmpdir()), 0);
}

TEST(writer_keeps_extra_metadata) {
    const char *path = mk_test_path("m.safetensors");
    const char *k[] = {"moekit.scheme"}, *v[] = {"fp8-block"};
    mk_st_writer *w;
    mk_error err = {0};
    CHECK_EQ_INT(mk_st_writer_open(path, NULL, 0, k, v, 1, &w, &err), MK_OK);
    CHECK_EQ_INT(mk_st_writer_finish(w, &err), MK_OK);
    mk_st_file *f;
    CHECK_EQ_INT(mk_st_open(path, &f, &err), MK_OK);
    CHECK(strcmp(mk_st_metadata(f, "moekit.scheme"), "fp8-block") == 0);
    CHECK(strcmp(mk_st_metadata(f, "format"), "pt") == 0);
    CHECK_EQ_INT(mk_st_count(f), 0);
    mk_st_close(f);
}

/* Writes a file with the literal header `hdr`, space-padded to a multiple of
 * 8 so tensors stay aligned. */
static void put_raw(const char *path, const char *hdr, size_t data_len) {
    char padded[4096];
    snprintf(padded, sizeof padded, "%s", hdr);
    while (strlen(padded) % 8) strcat(padded, " ");
    hdr = padded;
    size_t n = strlen(hdr);
    uint8_t *b = calloc(1, 8 + n + data_len);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)n >> (8 * i));
    memcpy(b + 8, hdr, n);
    mk_test_write_file(path, b, 8 + n + data_len);
    free(b);
}

TEST(reader_accepts_reference_edge_cases) {
    mk_error err = {0};
    mk_st_file *f;
    const char *p = mk_test_path("e.safetensors");
    /* leading and trailing whitespace, zero-size tensors sharing an offset, scalar */
    put_raw(p, "  {\"z\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[0,0]},"
               "\"z2\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]},"
               "\"s\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[0,4]}}    ", 4);
    CHECK_EQ_INT(mk_st_open(p, &f, &err), MK_OK);
    CHECK_EQ_INT(mk_st_count(f), 3);
    CHECK_EQ_INT(mk_st_find(f, "s")->n_elems, 1);
    CHECK_EQ_INT(mk_st_find(f, "z")->n_elems, 0);
    CHECK(mk_st_metadata(f, "format") == NULL);
    mk_st_close(f);
    put_raw(p, "{}", 0);
    CHECK_EQ_INT(mk_st_open(p, &f, &err), MK_OK);
    CHECK_EQ_INT(mk_st_count(f), 0);
    mk_st_close(f);
}

TEST(reader_errors_name_file_and_tensor) {
    mk_error err = {0};
    mk_st_file *f = (mk_st_file *)1;
    const char *p = mk_test_path("bad.safetensors");
    put_raw(p, "{\"w.0\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4);
    CHECK_EQ_INT(mk_st_open(p, &f, &err), MK_ERR_INPUT);
    CHECK(f == NULL);
    CHECK_STR_CONTAINS(err.msg, p);
    CHECK_STR_CONTAINS(err.msg, "tensor 'w.0'");
    CHECK_STR_CONTAINS(err.msg, "needs 8");
    mk_error e2 = {0};
    CHECK_EQ_INT(mk_st_open(mk_test_path("absent.safetensors"), &f, &e2), MK_ERR_INPUT);
    CHECK_STR_CONTAINS(e2.msg, "cannot open");
    mk_error e3 = {0};
    CHECK_EQ_INT(mk_st_open(mk_test_tmpdir(), &f, &e3), MK_ERR_INPUT);
    CHECK_STR_CONTAINS(e3.msg, "not a regular file");
}

TEST(reader_release_keeps_data_readable) {
    const char *path = mk_test_path("r.safetensors");
    size_t n = 1 << 16;
    mk_st_decl d[] = {{"x", MK_DT_F32, 1, {(int64_t)n}}};
    mk_st_writer *w;
    mk_error err = {0};
    CHECK_EQ_INT(mk_st_writer_open(path, d, 1, NULL, NULL, 0, &w, &err), MK_OK);
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = (float)i;
    CHECK_EQ_INT(mk_st_writer_write(w, 0, 0, v, n * sizeof *v, &err), MK_OK);
    CHECK_EQ_INT(mk_st_writer_finish(w, &err), MK_OK);
    mk_st_file *f;
    CHECK_EQ_INT(mk_st_open(path, &f, &err), MK_OK);
    const mk_tensor_info *t = mk_st_find(f, "x");
    const float *data = mk_st_data(f, t);
    CHECK(data[12345] == 12345.0f);
    mk_st_release(f, t, 0, t->end - t->begin);
    /* Released pages of a file mapping are re-read from the file on access. */
    CHECK(memcmp(data, v, n * sizeof *v) == 0);
    mk_st_close(f);
    free(v);
}
