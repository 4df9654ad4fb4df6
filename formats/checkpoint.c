/*
 * Checkpoint folders: the sharded index and lazy shard opening
 * (see checkpoint.h).
 *
 * The index of a DeepSeek-V3-sized model names ~90k tensors; it is parsed
 * once with jansson and kept: tensor names point into it and look-ups go
 * through its hash table, so opening costs one parse and one pass.
 */
#include "moekit/checkpoint.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/fileio.h"

#define MAX_INDEX_BYTES (512u << 20)

typedef struct shard {
    char *name;
    char *path;
    mk_st_file *file;
} shard;

struct mk_ckpt {
    char *dir;
    bool has_index;
    int64_t total_size;
    json_t *index;      /* whole index document, or NULL */
    json_t *file_ids;   /* file name -> integer id */
    shard *files;
    size_t n_files;
    const char **names; /* tensor names */
    uint32_t *tensor_file;
    size_t n_tensors;
    char **unlisted;
    size_t n_unlisted;
    pthread_mutex_t lock;
};

/* A shard name must stay inside the folder: one path component, not "." or "..". */
static bool plain_file_name(const char *s) {
    if (!*s || strcmp(s, ".") == 0 || strcmp(s, "..") == 0) return false;
    return strchr(s, '/') == NULL;
}

static int add_file(mk_ckpt *c, const char *name, const char *what, size_t *id, mk_error *err) {
    json_t *known = json_object_get(c->file_ids, name);
    if (known) {
        *id = (size_t)json_integer_value(known);
        return MK_OK;
    }
    if (!plain_file_name(name))
        return mk_fail(err, MK_ERR_INPUT,
                       "%s/%s: %s names shard '%s', which is not a plain file name in the folder",
                       c->dir, MK_INDEX_NAME, what, name);
    shard *s = &c->files[c->n_files];
    s->name = strdup(name);
    size_t plen = strlen(c->dir) + strlen(name) + 2;
    s->path = malloc(plen);
    if (!s->name || !s->path) return mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    snprintf(s->path, plen, "%s/%s", c->dir, name);
    struct stat st;
    /* stat() follows symlinks: the Hugging Face cache keeps snapshot files
     * as links into blobs/, which is fine as long as a regular file is at
     * the end of the chain. */
    if (stat(s->path, &st) != 0)
        return mk_fail(err, MK_ERR_INPUT, "%s: shard named by %s (%s) is missing: %s", s->path,
                       MK_INDEX_NAME, what, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return mk_fail(err, MK_ERR_INPUT, "%s: shard named by %s is not a regular file", s->path,
                       MK_INDEX_NAME);
    *id = c->n_files++;
    json_object_set_new(c->file_ids, name, json_integer((json_int_t)*id));
    return MK_OK;
}

static int open_index(mk_ckpt *c, const char *index_path, mk_error *err) {
    char *text;
    size_t len;
    int rc = mk_read_file(index_path, MAX_INDEX_BYTES, &text, &len, err);
    if (rc) return rc;
    json_error_t je;
    c->index = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    free(text);
    if (!c->index)
        return mk_fail(err, MK_ERR_INPUT, "%s: invalid JSON at line %d column %d: %s", index_path,
                       je.line, je.column, je.text);
    if (!json_is_object(c->index))
        return mk_fail(err, MK_ERR_INPUT, "%s: not a JSON object", index_path);
    json_t *meta = json_object_get(c->index, "metadata");
    if (meta && !json_is_object(meta) && !json_is_null(meta))
        return mk_fail(err, MK_ERR_INPUT, "%s: \"metadata\" is not an object", index_path);
    json_t *ts = meta && json_is_object(meta) ? json_object_get(meta, "total_size") : NULL;
    c->total_size = -1;
    if (ts) {
        /* huggingface_hub writes an integer; some tools write a float. */
        if (json_is_integer(ts) && json_integer_value(ts) >= 0)
            c->total_size = json_integer_value(ts);
        else if (json_is_real(ts) && json_real_value(ts) >= 0 && json_real_value(ts) < 9e18)
            c->total_size = (int64_t)json_real_value(ts);
        else
            return mk_fail(err, MK_ERR_INPUT,
                           "%s: metadata.total_size is not a non-negative number", index_path);
    }
    json_t *wm = json_object_get(c->index, "weight_map");
    if (!json_is_object(wm))
        return mk_fail(err, MK_ERR_INPUT, "%s: missing or non-object \"weight_map\"", index_path);
    size_t n = json_object_size(wm);
    c->names = malloc((n ? n : 1) * sizeof *c->names);
    c->tensor_file = malloc((n ? n : 1) * sizeof *c->tensor_file);
    c->files = calloc(n + 1, sizeof *c->files); /* +1: see mk_ckpt_close */
    if (!c->names || !c->tensor_file || !c->files)
        return mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    const char *key;
    json_t *val;
    json_object_foreach(wm, key, val) {
        if (!json_is_string(val))
            return mk_fail(err, MK_ERR_INPUT, "%s: weight_map entry '%s' is not a string",
                           index_path, key);
        char what[256];
        snprintf(what, sizeof what, "tensor '%.200s'", key);
        size_t id = 0;
        rc = add_file(c, json_string_value(val), what, &id, err);
        if (rc) return rc;
        c->names[c->n_tensors] = key;
        c->tensor_file[c->n_tensors] = (uint32_t)id;
        c->n_tensors++;
    }
    return MK_OK;
}

static int open_single(mk_ckpt *c, const char *file_path, mk_error *err) {
    c->files = calloc(1, sizeof *c->files);
    if (!c->files) return mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    const char *slash = strrchr(file_path, '/');
    const char *base = slash ? slash + 1 : file_path;
    c->files[0].name = strdup(base);
    c->files[0].path = strdup(file_path);
    if (!c->files[0].name || !c->files[0].path)
        return mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    c->n_files = 1;
    int rc = mk_st_open(file_path, &c->files[0].file, err);
    if (rc) return rc;
    size_t n = mk_st_count(c->files[0].file);
    c->names = malloc((n ? n : 1) * sizeof *c->names);
    c->tensor_file = calloc(n ? n : 1, sizeof *c->tensor_file);
    if (!c->names || !c->tensor_file) return mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    for (size_t i = 0; i < n; i++) c->names[i] = mk_st_tensor(c->files[0].file, i)->name;
    c->n_tensors = n;
    return MK_OK;
}

int mk_ckpt_open(const char *path, mk_ckpt **out, mk_error *err) {
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0)
        return mk_fail(err, MK_ERR_INPUT, "%s: %s", path, strerror(errno));
    mk_ckpt *c = calloc(1, sizeof *c);
    if (!c) return mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    pthread_mutex_init(&c->lock, NULL);
    c->total_size = -1;
    c->file_ids = json_object();
    int rc;
    char buf[PATH_MAX];
    if (S_ISDIR(st.st_mode)) {
        c->dir = strdup(path);
        size_t l = c->dir ? strlen(c->dir) : 0;
        while (l > 1 && c->dir[l - 1] == '/') c->dir[--l] = '\0';
        snprintf(buf, sizeof buf, "%s/%s", c->dir, MK_INDEX_NAME);
        if (stat(buf, &st) == 0) {
            c->has_index = true;
            rc = open_index(c, buf, err);
        } else {
            snprintf(buf, sizeof buf, "%s/%s", c->dir, MK_SINGLE_NAME);
            if (stat(buf, &st) == 0)
                rc = open_single(c, buf, err);
            else
                rc = mk_fail(err, MK_ERR_INPUT, "%s: no %s or %s in this folder", path,
                             MK_INDEX_NAME, MK_SINGLE_NAME);
        }
    } else if (S_ISREG(st.st_mode)) {
        snprintf(buf, sizeof buf, "%s", path);
        char *slash = strrchr(buf, '/');
        c->dir = strdup(slash ? (slash == buf ? "/" : (*slash = '\0', buf)) : ".");
        rc = open_single(c, path, err);
    } else {
        rc = mk_fail(err, MK_ERR_INPUT, "%s: neither a folder nor a regular file", path);
    }
    if (rc) {
        mk_ckpt_close(c);
        return rc;
    }
    *out = c;
    return MK_OK;
}

void mk_ckpt_close(mk_ckpt *c) {
    if (!c) return;
    for (size_t i = 0; i < c->n_files; i++) {
        mk_st_close(c->files[i].file);
        free(c->files[i].name);
        free(c->files[i].path);
    }
    /* A shard that failed validation midway through add_file may hold
     * allocations beyond n_files. */
    if (c->files && c->has_index) {
        free(c->files[c->n_files].name);
        free(c->files[c->n_files].path);
    }
    for (size_t i = 0; i < c->n_unlisted; i++) free(c->unlisted[i]);
    free(c->unlisted);
    free(c->files);
    free(c->names);
    free(c->tensor_file);
    json_decref(c->index);
    json_decref(c->file_ids);
    free(c->dir);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

const char *mk_ckpt_dir(const mk_ckpt *c) { return c->dir; }
bool mk_ckpt_has_index(const mk_ckpt *c) { return c->has_index; }
int64_t mk_ckpt_index_total_size(const mk_ckpt *c) { return c->total_size; }
size_t mk_ckpt_n_files(const mk_ckpt *c) { return c->n_files; }
const char *mk_ckpt_file_name(const mk_ckpt *c, size_t i) { return c->files[i].name; }
size_t mk_ckpt_n_tensors(const mk_ckpt *c) { return c->n_tensors; }
const char *mk_ckpt_tensor_name(const mk_ckpt *c, size_t i) { return c->names[i]; }
size_t mk_ckpt_tensor_file(const mk_ckpt *c, size_t i) { return c->tensor_file[i]; }
size_t mk_ckpt_n_unlisted(const mk_ckpt *c) { return c->n_unlisted; }
const char *mk_ckpt_unlisted(const mk_ckpt *c, size_t i) { return c->unlisted[i]; }

int mk_ckpt_file(mk_ckpt *c, size_t i, mk_st_file **out, mk_error *err) {
    if (i >= c->n_files) return mk_fail(err, MK_ERR_INTERNAL, "no shard #%zu", i);
    pthread_mutex_lock(&c->lock);
    int rc = MK_OK;
    if (!c->files[i].file) rc = mk_st_open(c->files[i].path, &c->files[i].file, err);
    *out = c->files[i].file;
    pthread_mutex_unlock(&c->lock);
    return rc;
}

static long tensor_file_id(const mk_ckpt *c, const char *name) {
    if (c->has_index) {
        json_t *f = json_object_get(json_object_get(c->index, "weight_map"), name);
        if (!f) return -1;
        return (long)json_integer_value(json_object_get(c->file_ids, json_string_value(f)));
    }
    return 0;
}

int mk_ckpt_find(mk_ckpt *c, const char *name, const mk_st_file **file,
                 const mk_tensor_info **info, mk_error *err) {
    long id = tensor_file_id(c, name);
    mk_st_file *f = NULL;
    int rc = id < 0 ? mk_fail(err, MK_ERR_INPUT, "%s: no tensor '%s' in the checkpoint", c->dir,
                              name)
                    : mk_ckpt_file(c, (size_t)id, &f, err);
    if (rc) return rc;
    const mk_tensor_info *t = mk_st_find(f, name);
    if (!t)
        return mk_fail(err, MK_ERR_INPUT, "%s: tensor '%s' listed in %s is not in this shard",
                       mk_st_path(f), name, MK_INDEX_NAME);
    if (file) *file = f;
    if (info) *info = t;
    return MK_OK;
}

int mk_ckpt_load_all(mk_ckpt *c, mk_error *err) {
    for (size_t i = 0; i < c->n_files; i++) {
        mk_st_file *f;
        int rc = mk_ckpt_file(c, i, &f, err);
        if (rc) return rc;
    }
    for (size_t i = 0; i < c->n_tensors; i++) {
        mk_st_file *f = c->files[c->tensor_file[i]].file;
        if (!mk_st_find(f, c->names[i]))
            return mk_fail(err, MK_ERR_INPUT, "%s: tensor '%s' listed in %s is not in this shard",
                           mk_st_path(f), c->names[i], MK_INDEX_NAME);
    }
    if (!c->has_index) return MK_OK;
    json_t *wm = json_object_get(c->index, "weight_map");
    for (size_t i = 0; i < c->n_files; i++) {
        mk_st_file *f = c->files[i].file;
        for (size_t k = 0; k < mk_st_count(f); k++) {
            const char *name = mk_st_tensor(f, k)->name;
            json_t *where = json_object_get(wm, name);
            if (where && strcmp(json_string_value(where), c->files[i].name) == 0) continue;
            char **grown = realloc(c->unlisted, (c->n_unlisted + 1) * sizeof *grown);
            if (!grown) return mk_fail(err, MK_ERR_INTERNAL, "out of memory");
            c->unlisted = grown;
            size_t len = strlen(name) + strlen(c->files[i].name) + 4;
            c->unlisted[c->n_unlisted] = malloc(len);
            if (!c->unlisted[c->n_unlisted]) return mk_fail(err, MK_ERR_INTERNAL, "out of memory");
            snprintf(c->unlisted[c->n_unlisted++], len, "%s (%s)", name, c->files[i].name);
        }
    }
    return MK_OK;
}
