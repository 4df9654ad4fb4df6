/* Checkpoint folders: index look-ups across shards, lazy opening, unlisted
 * tensors, and refusals of index entries that would escape the folder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "moekit/checkpoint.h"

static int write_shard(const char *path, const char *const *names, size_t n) {
    mk_st_decl d[8];
    for (size_t i = 0; i < n; i++) {
        d[i] = (mk_st_decl){names[i], MK_DT_F32, 1, {2}};
    }
    mk_st_writer *w;
    mk_error err = {0};
    if (mk_st_writer_open(path, d, n, NULL, NULL, 0, &w, &err)) return -1;
    for (size_t i = 0; i < n; i++) {
        float v[2] = {(float)i, (float)(i + 1)};
        if (mk_st_writer_write(w, i, 0, v, sizeof v, &err)) return -1;
    }
    return mk_st_writer_finish(w, &err);
}

static void two_shard_checkpoint(const char *dir, const char *extra_index_entry) {
    char p[1024];
    const char *a[] = {"w.a", "w.b"}, *b[] = {"w.c", "w.hidden"};
    snprintf(p, sizeof p, "%s/s1.safetensors", dir);
    write_shard(p, a, 2);
    snprintf(p, sizeof p, "%s/s2.safetensors", dir);
    write_shard(p, b, 2);
    char idx[1024];
    snprintf(idx, sizeof idx,
             "{\"metadata\":{\"total_size\":24},\"weight_map\":{\"w.a\":\"s1.safetensors\","
             "\"w.b\":\"s1.safetensors\",\"w.c\":\"s2.safetensors\"%s}}",
             extra_index_entry);
    snprintf(p, sizeof p, "%s/%s", dir, MK_INDEX_NAME);
    mk_test_write_file(p, idx, strlen(idx));
}

TEST(checkpoint_finds_tensors_across_shards_lazily) {
    const char *dir = mk_test_tmpdir();
    two_shard_checkpoint(dir, "");
    mk_ckpt *c;
    mk_error err = {0};
    CHECK_EQ_INT(mk_ckpt_open(dir, &c, &err), MK_OK);
    CHECK(mk_ckpt_has_index(c));
    CHECK_EQ_INT(mk_ckpt_index_total_size(c), 24);
    CHECK_EQ_INT(mk_ckpt_n_files(c), 2);
    CHECK_EQ_INT(mk_ckpt_n_tensors(c), 3);
    CHECK(strcmp(mk_ckpt_tensor_name(c, 2), "w.c") == 0);
    CHECK_EQ_INT(mk_ckpt_tensor_file(c, 2), 1);
    const mk_st_file *f;
    const mk_tensor_info *t;
    CHECK_EQ_INT(mk_ckpt_find(c, "w.c", &f, &t, &err), MK_OK);
    CHECK(((const float *)mk_st_data(f, t))[1] == 1.0f);
    CHECK(strstr(mk_st_path(f), "s2.safetensors") != NULL);
    mk_error e2 = {0};
    CHECK_EQ_INT(mk_ckpt_find(c, "w.zz", &f, &t, &e2), MK_ERR_INPUT);
    CHECK_STR_CONTAINS(e2.msg, "no tensor 'w.zz'");
    CHECK_EQ_INT(mk_ckpt_load_all(c, &err), MK_OK);
    /* w.hidden sits in s2 but the index does not list it */
    CHECK_EQ_INT(mk_ckpt_n_unlisted(c), 1);
    CHECK_STR_CONTAINS(mk_ckpt_unlisted(c, 0), "w.hidden (s2.safetensors)");
    mk_ckpt_close(c);
}

TEST(checkpoint_index_entry_for_absent_tensor_fails_on_load) {
    const char *dir = mk_test_tmpdir();
    two_shard_checkpoint(dir, ",\"w.ghost\":\"s1.safetensors\"");
    mk_ckpt *c;
    mk_error err = {0};
    CHECK_EQ_INT(mk_ckpt_open(dir, &c, &err), MK_OK);
    CHECK_EQ_INT(mk_ckpt_load_all(c, &err), MK_ERR_INPUT);
    CHECK_STR_CONTAINS(err.msg, "tensor 'w.ghost' listed in model.safetensors.index.json");
    CHECK_STR_CONTAINS(err.msg, "s1.safetensors");
    mk_ckpt_close(c);
}

TEST(checkpoint_refuses_names_outside_the_folder) {
    const char *bad[] = {"../s1.safetensors", "/tmp/s1.safetensors", "sub/s1.safetensors", "..", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char sub[64];
        snprintf(sub, sizeof sub, "case%zu", i);
        const char *dir = mk_test_path(sub);
        mkdir(dir, 0700);
        char idx[512], p[1024];
        snprintf(idx, sizeof idx, "{\"metadata\":{},\"weight_map\":{\"w\":\"%s\"}}", bad[i]);
        snprintf(p, sizeof p, "%s/%s", dir, MK_INDEX_NAME);
        mk_test_write_file(p, idx, strlen(idx));
        mk_ckpt *c = NULL;
        mk_error err = {0};
        CHECKF(mk_ckpt_open(dir, &c, &err) == MK_ERR_INPUT, "accepted '%s'", bad[i]);
        CHECK_STR_CONTAINS(err.msg, "not a plain file name");
        CHECK(c == NULL);
    }
}

TEST(checkpoint_follows_symlinked_shards_and_single_files) {
    const char *dir = mk_test_tmpdir();
    char blobs[512], snap[512], p[1100], link[1100];
    snprintf(blobs, sizeof blobs, "%s/blobs", dir);
    snprintf(snap, sizeof snap, "%s/snap", dir);
    mkdir(blobs, 0700);
    mkdir(snap, 0700);
    const char *names[] = {"t"};
    snprintf(p, sizeof p, "%s/0123abcd", blobs);
    CHECK_EQ_INT(write_shard(p, names, 1), MK_OK);
    snprintf(link, sizeof link, "%s/%s", snap, MK_SINGLE_NAME);
    CHECK(symlink("../blobs/0123abcd", link) == 0);
    mk_ckpt *c;
    mk_error err = {0};
    char slashed[1100];
    snprintf(slashed, sizeof slashed, "%s/", snap);
    CHECK_EQ_INT(mk_ckpt_open(slashed, &c, &err), MK_OK);
    CHECK(!mk_ckpt_has_index(c));
    CHECK_EQ_INT(mk_ckpt_n_tensors(c), 1);
    CHECK(strcmp(mk_ckpt_dir(c), snap) == 0);
    mk_ckpt_close(c);
    CHECK_EQ_INT(mk_ckpt_open(p, &c, &err), MK_OK); /* a file path */
    CHECK(strcmp(mk_ckpt_dir(c), blobs) == 0);
    CHECK_EQ_INT(mk_ckpt_find(c, "t", NULL, NULL, &err), MK_OK);
    mk_ckpt_close(c);
}
