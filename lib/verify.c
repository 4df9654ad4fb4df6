/*
 * `verify`: proves that a checkpoint folder is what vLLM and SGLang will load
 * without surprises (see verify.h).
 *
 * The checks run from cheapest to dearest, so that a broken folder fails in
 * milliseconds and only a sound one pays for hashing every byte:
 *   1. moekit.json, when present, is parsed and its types checked;
 *   2. every shard is valid safetensors, the index maps every tensor to the
 *      shard that holds it, names every *.safetensors file of the folder, and
 *      its metadata.total_size is the sum of the tensor bytes;
 *   3. config.json's quantization_config is turned into schemes (tensor
 *      names, dtypes and scale shapes each implies), one per
 *      compressed-tensors config group, plus its ignore list;
 *   4. every tensor is checked against its module's scheme: each quantized
 *      weight belongs to exactly one group (a name or "re:" target first,
 *      else the "Linear" class target, as vLLM picks) and has its scale with
 *      the right dtype and shape, no scale is left without a quantized
 *      weight, ignored modules are unquantized and every other linear weight
 *      a group targets is quantized;
 *   5. each file the manifest lists is read once, in 1 MiB read() calls (no
 *      mmap, so the resident set stays flat on a 700 GB checkpoint), and its
 *      size and xxhash64 compared.
 * Shard headers and the few scale/shape tensors whose values matter
 * (weight_shape) are the only tensor bytes read before step 5.
 */
#include "moekit/verify.h"
#include "formats/regex_guard.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "formats/fileio.h"
#include "moekit/checkpoint.h"
#include "moekit/model.h"
#include "moekit/safetensors.h"

#define MANIFEST_NAME "moekit.json"
#define MANIFEST_FORMAT "moekit-manifest"
#define MANIFEST_VERSION 1
#define CONFIG_NAME "config.json"
#define MAX_JSON_BYTES ((size_t)64 << 20)
#define HASH_CHUNK ((size_t)1 << 20)
#define MAX_BLOCK ((int64_t)1 << 30)
/* Folder paths up to this long leave room for "/<NAME_MAX name>" in the
 * 4096-byte path buffers used below. */
#define MAX_DIR_LEN 3800

/* ---- name sets: exact module names plus "re:" patterns ---- */

typedef struct name_set {
    bool all;        /* a CT target such as "Linear": every linear module */
    json_t *exact;   /* object used as a set of exact names */
    regex_t *re;
    size_t n_re;
} name_set;

static void name_set_free(name_set *s) {
    json_decref(s->exact);
    for (size_t i = 0; i < s->n_re; i++) regfree(&s->re[i]);
    free(s->re);
    memset(s, 0, sizeof *s);
}

/* A match by name: an exact entry or a "re:" pattern (not a class target). */
static bool name_set_names(const name_set *s, const char *module) {
    if (s->exact && json_object_get(s->exact, module)) return true;
    for (size_t i = 0; i < s->n_re; i++)
        if (regexec(&s->re[i], module, 0, NULL, 0) == 0) return true;
    return false;
}

static bool name_set_has(const name_set *s, const char *module) {
    return s->all || name_set_names(s, module);
}

/* Python's re.match() anchors at the start only; POSIX ERE has no "(?:",
 * so the pattern becomes "^(" pat ")".  The Python spellings that real
 * ignore lists use and ERE lacks - "(?:" and "\d" outside brackets - are
 * rewritten; any other "(?" construct is refused rather than misread. */
static char *posix_pattern(const char *pat, const char **why) {
    size_t n = strlen(pat);
    char *out = malloc(n * 5 + 8);
    if (!out) {
        *why = "out of memory";
        return NULL;
    }
    size_t o = 0;
    out[o++] = '^';
    out[o++] = '(';
    bool in_bracket = false;
    for (size_t i = 0; i < n; i++) {
        char ch = pat[i];
        if (in_bracket) {
            if (ch == ']') in_bracket = false;
            out[o++] = ch;
            continue;
        }
        if (ch == '\\' && i + 1 < n) {
            if (pat[i + 1] == 'd') {
                memcpy(out + o, "[0-9]", 5);
                o += 5;
            } else {
                out[o++] = ch;
                out[o++] = pat[i + 1];
            }
            i++;
            continue;
        }
        if (ch == '[') {
            in_bracket = true;
            out[o++] = ch;
            if (pat[i + 1] == '^') out[o++] = pat[++i];
            if (pat[i + 1] == ']') out[o++] = pat[++i];
            continue;
        }
        if (ch == '(' && pat[i + 1] == '?') {
            if (pat[i + 2] != ':') {
                free(out);
                *why = "uses a Python-only '(?' construct";
                return NULL;
            }
            out[o++] = '(';
            i += 2;
            continue;
        }
        out[o++] = ch;
    }
    out[o++] = ')';
    out[o] = '\0';
    return out;
}

/* Fills `s` from a JSON array of strings at quantization_config.<key>.
 * `regex` allows "re:" entries; `linear_class` lets a class name ending in
 * "Linear" stand for every linear module (compressed-tensors targets). */
static int name_set_load(name_set *s, const json_t *arr, const char *path, const char *key,
                         bool regex, bool linear_class, mk_error *err) {
    s->exact = json_object();
    s->re = calloc(json_array_size(arr) + 1, sizeof *s->re);
    if (!s->exact || !s->re) return mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        if (!json_is_string(e) || strlen(json_string_value(e)) != json_string_length(e))
            return mk_fail(err, MK_ERR_INPUT, "%s: quantization_config.%s[%zu] is not a string",
                           path, key, i);
        const char *v = json_string_value(e);
        if (regex && strncmp(v, "re:", 3) == 0) {
            const char *why = NULL;
            char *pat = mk_regex_safe(v + 3, &why) ? posix_pattern(v + 3, &why) : NULL;
            char msg[256] = "";
            int rc = pat ? regcomp(&s->re[s->n_re], pat, REG_EXTENDED | REG_NOSUB) : -1;
            if (rc > 0) regerror(rc, &s->re[s->n_re], msg, sizeof msg);
            free(pat);
            if (rc != 0)
                return mk_fail(err, MK_ERR_INPUT,
                               "%s: quantization_config.%s[%zu] '%.200s' is not a regular "
                               "expression moekit can use: %s",
                               path, key, i, v, why ? why : msg);
            s->n_re++;
        } else if (linear_class && strlen(v) >= 6 && strcmp(v + strlen(v) - 6, "Linear") == 0 &&
                   !strchr(v, '.')) {
            s->all = true;
        } else {
            json_object_set_new(s->exact, v, json_true());
        }
    }
    return MK_OK;
}

/* ---- the quantization scheme config.json declares ---- */

typedef enum scale_kind { SCALE_TENSOR, SCALE_CHANNEL, SCALE_BLOCK, SCALE_GROUP } scale_kind;

/* One quantized form: the whole config for quant_method "fp8", one config
 * group for compressed-tensors. */
typedef struct scheme {
    char name[32];           /* "fp8-block", ..., "int8-group" */
    char label[128];         /* name, plus the config group when there are several */
    bool ct;                 /* compressed-tensors; else quant_method "fp8" */
    bool packed;             /* weight_packed + weight_shape in place of weight */
    mk_dtype qdtype;         /* dtype of a quantized `weight` (unpacked forms) */
    const char *scale_suffix;
    scale_kind scale;
    bool scale_any_float;    /* F16/BF16 scales allowed besides F32 */
    int64_t bn, bk, group;
    bool static_input;       /* input_scale per quantized module */
    bool input_zero_point;   /* input_zero_point too (asymmetric static input) */
    name_set targets;        /* CT only */
    char group_name[64];     /* CT: the config group, for messages */
} scheme;

/* quantization_config as a whole. */
typedef struct qconfig {
    char name[32];           /* reported: the one scheme's name, "mixed" or "none" */
    bool quantized;          /* false for "none" */
    bool ct;
    scheme *groups;          /* one for "fp8"; one per config group for CT */
    size_t n_groups;
    const char *ignore_key;  /* "ignored_layers", "modules_to_not_convert", "ignore" */
    bool has_ignore_list;    /* a non-empty ignore list is present */
    name_set ignore;
} qconfig;

static void qconfig_free(qconfig *q) {
    for (size_t i = 0; i < q->n_groups; i++) name_set_free(&q->groups[i].targets);
    free(q->groups);
    name_set_free(&q->ignore);
}

/* ---- the verifier's state ---- */

typedef struct tensor_ref {
    const char *name;
    const mk_st_file *file;
    const mk_tensor_info *info;
} tensor_ref;

typedef struct manifest_file {
    const char *name; /* owned by the manifest JSON */
    uint64_t bytes;
    uint64_t xxh64;
} manifest_file;

typedef struct verifier {
    const char *dir;
    mk_verify_report *r;
    mk_error *err;
    mk_ckpt *ckpt;
    /* every tensor, and an open-addressing table over their names */
    tensor_ref *refs;
    size_t n_refs;
    uint32_t *slots; /* index + 1; 0 = empty */
    size_t mask;
    /* config.json */
    char config_path[4096];
    bool has_config;
    mk_model_config cfg_store;
    const mk_model_config *cfg; /* NULL when absent or unsupported */
    json_t *config;
    qconfig q;
    /* moekit.json */
    char manifest_path[4096];
    json_t *manifest;
    const char *manifest_scheme;
    manifest_file *mfiles;
    size_t n_mfiles;
    /* scratch for "<module>.<suffix>" names */
    char *buf;
    size_t buf_cap;
    /* the last module quantized_group() accepted: a module's tensors are
     * usually neighbours, and each would match the targets again */
    char *last_module;
    const scheme *last_group;
} verifier;

static uint64_t hash_name(const char *s, size_t n) { return XXH64(s, n, 0); }

static int table_build(verifier *v) {
    size_t cap = 16;
    while (cap < v->n_refs * 2) cap *= 2;
    v->slots = calloc(cap, sizeof *v->slots);
    if (!v->slots) return mk_fail(v->err, MK_ERR_INTERNAL, "out of memory");
    v->mask = cap - 1;
    for (size_t i = 0; i < v->n_refs; i++) {
        size_t h = (size_t)hash_name(v->refs[i].name, strlen(v->refs[i].name)) & v->mask;
        while (v->slots[h]) h = (h + 1) & v->mask;
        v->slots[h] = (uint32_t)(i + 1);
    }
    return MK_OK;
}

static const tensor_ref *table_find(const verifier *v, const char *name) {
    size_t h = (size_t)hash_name(name, strlen(name)) & v->mask;
    while (v->slots[h]) {
        const tensor_ref *t = &v->refs[v->slots[h] - 1];
        if (strcmp(t->name, name) == 0) return t;
        h = (h + 1) & v->mask;
    }
    return NULL;
}

/* "<first mlen bytes of name>.<suffix>" in v->buf (NULL when out of memory). */
static const char *sibling(verifier *v, const char *name, size_t mlen, const char *suffix) {
    size_t need = mlen + strlen(suffix) + 2;
    if (need > v->buf_cap) {
        char *g = realloc(v->buf, need * 2);
        if (!g) return NULL;
        v->buf = g;
        v->buf_cap = need * 2;
    }
    memcpy(v->buf, name, mlen);
    v->buf[mlen] = '.';
    strcpy(v->buf + mlen + 1, suffix);
    return v->buf;
}

static const tensor_ref *find_sibling(verifier *v, const char *name, size_t mlen,
                                      const char *suffix) {
    const char *n = sibling(v, name, mlen, suffix);
    return n ? table_find(v, n) : NULL;
}

static const char *shape_str(const mk_tensor_info *t, char *buf, size_t cap) {
    size_t o = 0;
    buf[o++] = '[';
    for (int d = 0; d < t->ndim && o + 24 < cap; d++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%" PRId64, d ? ", " : "", t->shape[d]);
    snprintf(buf + o, cap - o, "]");
    return buf;
}

static bool is_float(mk_dtype dt) {
    return dt == MK_DT_F32 || dt == MK_DT_F16 || dt == MK_DT_BF16;
}

static bool ends_with(const char *s, size_t len, const char *suffix) {
    size_t n = strlen(suffix);
    return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

static int64_t ceil_div(int64_t a, int64_t b) { return a / b + (a % b != 0); }

/* ---- step 1: the manifest's shape ---- */

static bool hex16(const char *s, uint64_t *out) {
    if (strlen(s) != 16) return false;
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return false;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return true;
}

static const char *json_kind(const json_t *j) {
    switch (json_typeof(j)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

/* An optional string member; *out stays NULL when absent. */
static int opt_string(verifier *v, const char *path, const json_t *obj, const char *key,
                      const char *where, const char **out) {
    const json_t *j = json_object_get(obj, key);
    *out = NULL;
    if (!j) return MK_OK;
    if (!json_is_string(j) || strlen(json_string_value(j)) != json_string_length(j))
        return mk_fail(v->err, MK_ERR_INPUT, "%s: %s%s is %s, expected a string", path, where,
                       key, json_kind(j));
    *out = json_string_value(j);
    return MK_OK;
}

static int load_manifest(verifier *v) {
    const char *path = v->manifest_path;
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT) return MK_OK;
        return mk_fail(v->err, MK_ERR_INPUT, "%s: %s", path, strerror(errno));
    }
    v->r->has_manifest = true;
    char *text;
    size_t len;
    int rc = mk_read_file(path, MAX_JSON_BYTES, &text, &len, v->err);
    if (rc) return rc;
    json_error_t je;
    v->manifest = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    free(text);
    if (!v->manifest)
        return mk_fail(v->err, MK_ERR_INPUT, "%s: invalid JSON at line %d column %d: %s", path,
                       je.line, je.column, je.text);
    const json_t *m = v->manifest;
    if (!json_is_object(m)) return mk_fail(v->err, MK_ERR_INPUT, "%s: not a JSON object", path);
    const char *format, *ignored;
    if ((rc = opt_string(v, path, m, "format", "", &format))) return rc;
    if (!format || strcmp(format, MANIFEST_FORMAT) != 0)
        return mk_fail(v->err, MK_ERR_INPUT, "%s: \"format\" is %s%.60s%s, expected \"%s\"", path,
                       format ? "\"" : "", format ? format : "missing", format ? "\"" : "",
                       MANIFEST_FORMAT);
    const json_t *ver = json_object_get(m, "version");
    if (!json_is_integer(ver))
        return mk_fail(v->err, MK_ERR_INPUT, "%s: \"version\" is %s, expected the integer %d",
                       path, ver ? json_kind(ver) : "missing", MANIFEST_VERSION);
    if (json_integer_value(ver) != MANIFEST_VERSION)
        return mk_fail(v->err, MK_ERR_INPUT,
                       "%s: manifest version %" JSON_INTEGER_FORMAT
                       " is not supported (this moekit reads version %d)",
                       path, json_integer_value(ver), MANIFEST_VERSION);
    if ((rc = opt_string(v, path, m, "moekit_version", "", &ignored)) ||
        (rc = opt_string(v, path, m, "shard_by", "", &ignored)) ||
        (rc = opt_string(v, path, m, "scheme", "", &v->manifest_scheme)))
        return rc;
    const json_t *files = json_object_get(m, "files");
    if (!json_is_array(files))
        return mk_fail(v->err, MK_ERR_INPUT, "%s: \"files\" is %s, expected an array", path,
                       files ? json_kind(files) : "missing");
    v->mfiles = calloc(json_array_size(files) + 1, sizeof *v->mfiles);
    if (!v->mfiles) return mk_fail(v->err, MK_ERR_INTERNAL, "out of memory");
    size_t i;
    const json_t *f;
    json_array_foreach(files, i, f) {
        char where[48];
        snprintf(where, sizeof where, "files[%zu].", i);
        if (!json_is_object(f))
            return mk_fail(v->err, MK_ERR_INPUT, "%s: files[%zu] is %s, expected an object", path,
                           i, json_kind(f));
        manifest_file *mf = &v->mfiles[i];
        const char *hex;
        if ((rc = opt_string(v, path, f, "name", where, &mf->name)) ||
            (rc = opt_string(v, path, f, "xxh64", where, &hex)))
            return rc;
        if (!mf->name)
            return mk_fail(v->err, MK_ERR_INPUT, "%s: files[%zu] has no \"name\"", path, i);
        if (!*mf->name || strchr(mf->name, '/') || strcmp(mf->name, ".") == 0 ||
            strcmp(mf->name, "..") == 0)
            return mk_fail(v->err, MK_ERR_INPUT,
                           "%s: files[%zu].name '%.200s' is not a plain file name in the folder",
                           path, i, mf->name);
        if (strlen(mf->name) > NAME_MAX)
            return mk_fail(v->err, MK_ERR_INPUT, "%s: files[%zu].name is longer than %d bytes",
                           path, i, NAME_MAX);
        if (strcmp(mf->name, MANIFEST_NAME) == 0)
            return mk_fail(v->err, MK_ERR_INPUT, "%s: files[%zu] lists the manifest itself", path,
                           i);
        const json_t *bytes = json_object_get(f, "bytes");
        if (!json_is_integer(bytes) || json_integer_value(bytes) < 0)
            return mk_fail(v->err, MK_ERR_INPUT,
                           "%s: files[%zu].bytes (%.200s) is %s, expected a non-negative integer",
                           path, i, mf->name, bytes ? json_kind(bytes) : "missing");
        mf->bytes = (uint64_t)json_integer_value(bytes);
        if (!hex || !hex16(hex, &mf->xxh64))
            return mk_fail(v->err, MK_ERR_INPUT,
                           "%s: files[%zu].xxh64 (%.200s) is %s%.40s%s, expected 16 lowercase hex "
                           "digits",
                           path, i, mf->name, hex ? "'" : "", hex ? hex : "missing",
                           hex ? "'" : "");
        if (i > 0) {
            int c = strcmp(v->mfiles[i - 1].name, mf->name);
            if (c == 0)
                return mk_fail(v->err, MK_ERR_INPUT, "%s: lists '%.200s' twice", path, mf->name);
            if (c > 0)
                return mk_fail(v->err, MK_ERR_INPUT,
                               "%s: files are not sorted by name ('%.200s' before '%.200s')", path,
                               v->mfiles[i - 1].name, mf->name);
        }
        v->n_mfiles++;
    }
    return MK_OK;
}

/* ---- step 2: structure ---- */

static int check_unlisted(verifier *v) {
    if (mk_ckpt_n_unlisted(v->ckpt) == 0) return MK_OK;
    /* mk_ckpt_unlisted() reads "<tensor> (<shard>)". */
    const char *u = mk_ckpt_unlisted(v->ckpt, 0);
    const char *open = strstr(u, " (");
    for (const char *p = open; p; p = strstr(p + 1, " (")) open = p;
    size_t ulen = strlen(u);
    if (open && ulen > 0 && u[ulen - 1] == ')')
        return mk_fail(v->err, MK_ERR_INPUT,
                       "%s/%.*s: tensor '%.*s' is not listed for this shard in %s (loaders that "
                       "read whole shards would still load it)",
                       v->dir, (int)(ulen - (size_t)(open - u) - 3), open + 2, (int)(open - u), u,
                       MK_INDEX_NAME);
    return mk_fail(v->err, MK_ERR_INPUT, "%s: tensor %s is not listed in %s", v->dir, u,
                   MK_INDEX_NAME);
}

static bool ckpt_has_file(const mk_ckpt *c, const char *name) {
    for (size_t i = 0; i < mk_ckpt_n_files(c); i++)
        if (strcmp(mk_ckpt_file_name(c, i), name) == 0) return true;
    return false;
}

/* Every *.safetensors regular file of the folder must be one the loaders are
 * told about; the first offender in name order is reported. */
static int check_folder_shards(verifier *v) {
    DIR *d = opendir(v->dir);
    if (!d) return mk_fail(v->err, MK_ERR_INPUT, "%s: cannot list: %s", v->dir, strerror(errno));
    char *worst = NULL;
    int rc = MK_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        size_t len = strlen(n);
        if (n[0] == '.' || !ends_with(n, len, ".safetensors")) continue;
        if (ckpt_has_file(v->ckpt, n)) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", v->dir, n);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        if (!worst || strcmp(n, worst) < 0) {
            free(worst);
            worst = strdup(n);
            if (!worst) {
                rc = mk_fail(v->err, MK_ERR_INTERNAL, "out of memory");
                break;
            }
        }
    }
    closedir(d);
    if (rc || !worst) return rc;
    if (mk_ckpt_has_index(v->ckpt))
        rc = mk_fail(v->err, MK_ERR_INPUT, "%s: %s is not listed in %s", v->dir, worst,
                     MK_INDEX_NAME);
    else
        rc = mk_fail(v->err, MK_ERR_INPUT,
                     "%s: %s sits beside %s but there is no %s to say which shards to load",
                     v->dir, worst, MK_SINGLE_NAME, MK_INDEX_NAME);
    free(worst);
    return rc;
}

static int collect_tensors(verifier *v) {
    mk_ckpt *c = v->ckpt;
    size_t total = 0;
    for (size_t i = 0; i < mk_ckpt_n_files(c); i++) {
        mk_st_file *f;
        int rc = mk_ckpt_file(c, i, &f, v->err);
        if (rc) return rc;
        total += mk_st_count(f);
    }
    v->refs = calloc(total + 1, sizeof *v->refs);
    if (!v->refs) return mk_fail(v->err, MK_ERR_INTERNAL, "out of memory");
    uint64_t bytes = 0;
    for (size_t i = 0; i < mk_ckpt_n_files(c); i++) {
        mk_st_file *f;
        mk_ckpt_file(c, i, &f, v->err);
        for (size_t k = 0; k < mk_st_count(f); k++) {
            const mk_tensor_info *t = mk_st_tensor(f, k);
            v->refs[v->n_refs++] = (tensor_ref){t->name, f, t};
            bytes += t->end - t->begin;
        }
    }
    int64_t declared = mk_ckpt_index_total_size(c);
    if (declared >= 0 && (uint64_t)declared != bytes)
        return mk_fail(v->err, MK_ERR_INPUT,
                       "%s/%s: metadata.total_size is %" PRId64 " but the tensors hold %" PRIu64
                       " bytes",
                       v->dir, MK_INDEX_NAME, declared, bytes);
    v->r->n_files = mk_ckpt_n_files(c);
    v->r->n_tensors = mk_ckpt_n_tensors(c);
    return table_build(v);
}

/* ---- step 3: config.json -> scheme ---- */

static const json_t *get_list(verifier *v, const json_t *qc, const char *key, int *rc) {
    const json_t *j = json_object_get(qc, key);
    *rc = MK_OK;
    if (!j || json_is_null(j)) return NULL;
    if (!json_is_array(j))
        *rc = mk_fail(v->err, MK_ERR_INPUT,
                      "%s: quantization_config.%s is %s, expected an array of module names",
                      v->config_path, key, json_kind(j));
    return j;
}

/* True when every string of `a` is in `b`; *missing gets the first one not. */
static bool list_within(const json_t *a, const json_t *b, const char **missing) {
    size_t i, k;
    const json_t *x, *y;
    json_array_foreach(a, i, x) {
        bool found = false;
        json_array_foreach(b, k, y) {
            if (json_equal((json_t *)x, (json_t *)y)) {
                found = true;
                break;
            }
        }
        if (!found) {
            *missing = json_is_string(x) ? json_string_value(x) : "(not a string)";
            return false;
        }
    }
    return true;
}

static int parse_fp8(verifier *v, const json_t *qc) {
    qconfig *q = &v->q;
    const char *path = v->config_path;
    const json_t *act = json_object_get(qc, "activation_scheme");
    const char *a = json_is_string(act) ? json_string_value(act) : NULL;
    if (!a || (strcmp(a, "dynamic") != 0 && strcmp(a, "static") != 0))
        return mk_fail(v->err, MK_ERR_INPUT,
                       "%s: quantization_config.activation_scheme is %s, expected \"dynamic\" or "
                       "\"static\"",
                       path, act ? json_kind(act) : "missing");
    const json_t *fmt = json_object_get(qc, "fmt");
    if (fmt && (!json_is_string(fmt) || strcmp(json_string_value(fmt), "e4m3") != 0))
        return mk_fail(v->err, MK_ERR_INPUT,
                       "%s: quantization_config.fmt is unsupported (expected \"e4m3\")", path);
    q->groups = calloc(1, sizeof *q->groups);
    if (!q->groups) return mk_fail(v->err, MK_ERR_INTERNAL, "out of memory");
    q->n_groups = 1;
    scheme *s = &q->groups[0];
    q->quantized = true;
    s->qdtype = MK_DT_F8_E4M3;
    s->static_input = strcmp(a, "static") == 0;
    const json_t *wbs = json_object_get(qc, "weight_block_size");
    if (wbs && !json_is_null(wbs)) {
        const json_t *b0 = json_array_get(wbs, 0), *b1 = json_array_get(wbs, 1);
        if (!json_is_array(wbs) || json_array_size(wbs) != 2 || !json_is_integer(b0) ||
            !json_is_integer(b1) || json_integer_value(b0) < 1 || json_integer_value(b1) < 1 ||
            json_integer_value(b0) > MAX_BLOCK || json_integer_value(b1) > MAX_BLOCK)
            return mk_fail(v->err, MK_ERR_INPUT,
                           "%s: quantization_config.weight_block_size is not two positive integers",
                           path);
        if (s->static_input)
            return mk_fail(v->err, MK_ERR_INPUT,
                           "%s: quantization_config.weight_block_size needs activation_scheme "
                           "\"dynamic\" (vLLM refuses static block FP8)",
                           path);
        snprintf(s->name, sizeof s->name, "fp8-block");
        s->scale_suffix = "weight_scale_inv";
        s->scale = SCALE_BLOCK;
        s->bn = json_integer_value(b0);
        s->bk = json_integer_value(b1);
    } else {
        snprintf(s->name, sizeof s->name, "fp8-tensor");
        s->scale_suffix = "weight_scale";
        s->scale = SCALE_TENSOR;
    }
    snprintf(s->label, sizeof s->label, "%s", s->name);
    snprintf(q->name, sizeof q->name, "%s", s->name);
    /* vLLM reads ignored_layers and falls back to modules_to_not_convert;
     * SGLang reads only ignored_layers; transformers reads
     * modules_to_not_convert.  Two lists that differ mean two engines
     * load different models. */
    int rc;
    const json_t *il = get_list(v, qc, "ignored_layers", &rc);
    if (rc) return rc;
    const json_t *mn = get_list(v, qc, "modules_to_not_convert", &rc);
    if (rc) return rc;
    const char *missing = NULL;
    if (il && mn) {
        const char *key = NULL;
        if (!list_within(il, mn, &missing))
            key = "ignored_layers";
        else if (!list_within(mn, il, &missing))
            key = "modules_to_not_convert";
        if (key)
            return mk_fail(v->err, MK_ERR_INPUT,
                           "%s: quantization_config.ignored_layers and "
                           "quantization_config.modules_to_not_convert differ ('%.200s' is only in "
                           "%s); vLLM, SGLang and transformers would skip different modules",
                           path, missing, key);
    }
    const json_t *list = il ? il : mn;
    q->ignore_key = il ? "ignored_layers" : "modules_to_not_convert";
    q->has_ignore_list = list && json_array_size(list) > 0;
    if (list)
        return name_set_load(&q->ignore, list, path, q->ignore_key, false, false, v->err);
    return MK_OK;
}

static int ct_args_field(verifier *v, const json_t *args, const char *where, const char *key,
                         json_type type, const json_t **out) {
    *out = json_object_get(args, key);
    if (*out && json_is_null(*out)) *out = NULL;
    if (*out && json_typeof(*out) != type &&
        !(type == JSON_TRUE && json_is_boolean(*out)))
        return mk_fail(v->err, MK_ERR_INPUT, "%s: quantization_config.%s.%s is %s", v->config_path,
                       where, key, json_kind(*out));
    return MK_OK;
}

/* One compressed-tensors config group `g` (named s->group_name) into `s`. */
static int parse_ct_group(verifier *v, const json_t *qc, const json_t *g, scheme *s) {
    const char *path = v->config_path;
    char where[128];
    if (!json_is_object(g))
        return mk_fail(v->err, MK_ERR_INPUT, "%s: quantization_config.config_groups.%s is %s",
                       path, s->group_name, json_kind(g));
    const json_t *w = json_object_get(g, "weights");
    if (!json_is_object(w))
        return mk_fail(v->err, MK_ERR_INPUT,
                       "%s: quantization_config.config_groups.%s.weights is %s, expected an object",
                       path, s->group_name, w ? json_kind(w) : "missing");
    snprintf(where, sizeof where, "config_groups.%s.weights", s->group_name);
    const json_t *bits, *type, *sym, *dyn, *strat, *gs, *bs;
    int rc;
    if ((rc = ct_args_field(v, w, where, "num_bits", JSON_INTEGER, &bits)) ||
        (rc = ct_args_field(v, w, where, "type", JSON_STRING, &type)) ||
        (rc = ct_args_field(v, w, where, "symmetric", JSON_TRUE, &sym)) ||
        (rc = ct_args_field(v, w, where, "strategy", JSON_STRING, &strat)) ||
        (rc = ct_args_field(v, w, where, "group_size", JSON_INTEGER, &gs)) ||
        (rc = ct_args_field(v, w, where, "block_structure", JSON_ARRAY, &bs)))
        return rc;
    /* compressed-tensors defaults: 8 bits, int, symmetric, static. */
    json_int_t nbits = bits ? json_integer_value(bits) : 8;
    if (nbits != 8)
        return mk_fail(v->err, MK_ERR_INPUT,
                       "%s: quantization_config.%s.num_bits %" JSON_INTEGER_FORMAT
                       " is unsupported (moekit verifies 8-bit weights)",
                       path, where, nbits);
    const char *t = type ? json_string_value(type) : "int";
    if (strcmp(t, "int") != 0 && strcmp(t, "float") != 0)
        return mk_fail(v->err, MK_ERR_INPUT,
                       "%s: quantization_config.%s.type '%.40s' is unsupported", path, where, t);
    if (sym && !json_is_true(sym))
        return mk_fail(v->err, MK_ERR_INPUT,
                       "%s: quantization_config.%s.symmetric false is unsupported", path, where);
    dyn = json_object_get(w, "dynamic");
    if (dyn && !json_is_false(dyn) && !json_is_null(dyn))
        return mk_fail(v->err, MK_ERR_INPUT,
                       "%s: quantization_config.%s.dynamic is unsupported (weights need stored "
                       "scales)",
                       path, where);
    const char *st;
    if (strat)
        st = json_string_value(strat);
    else /* compressed-tensors infers the strategy from group_size */
        st = !gs ? "tensor" : json_integer_value(gs) == -1 ? "channel" : "group";
    /* A group's own format wins over the top-level one, which a config
     * whose groups differ sets to "mixed-precision". */
    const json_t *fj = json_object_get(g, "format");
    if (!fj || json_is_null(fj)) fj = json_object_get(qc, "format");
    if (!json_is_string(fj))
        return mk_fail(v->err, MK_ERR_INPUT,
                       "%s: quantization_config has no \"format\" (top level or in "
                       "config_groups.%s)",
                       path, s->group_name);
    const char *format = json_string_value(fj);
    if (strcmp(format, "mixed-precision") == 0)
        return mk_fail(v->err, MK_ERR_INPUT,
                       "%s: quantization_config.format is \"mixed-precision\" but "
                       "config_groups.%s has no \"format\" of its own",
                       path, s->group_name);
    bool is_float_type = strcmp(t, "float") == 0;
    s->ct = true;
    s->scale_suffix = "weight_scale";
    s->scale_any_float = true;
    s->qdtype = is_float_type ? MK_DT_F8_E4M3 : MK_DT_I8;
    bool ok_format = is_float_type ? strcmp(format, "float-quantized") == 0 ||
                                         strcmp(format, "naive-quantized") == 0
                                   : strcmp(format, "int-quantized") == 0 ||
                                         strcmp(format, "naive-quantized") == 0;
    if (is_float_type && ok_format && strcmp(st, "channel") == 0) {
        snprintf(s->name, sizeof s->name, "fp8-channel");
        s->scale = SCALE_CHANNEL;
    } else if (is_float_type && ok_format && strcmp(st, "tensor") == 0) {
        snprintf(s->name, sizeof s->name, "fp8-tensor");
        s->scale = SCALE_TENSOR;
    } else if (is_float_type && ok_format && strcmp(st, "block") == 0) {
        const json_t *b0 = json_array_get(bs, 0), *b1 = json_array_get(bs, 1);
        if (!bs || json_array_size(bs) != 2 || !json_is_integer(b0) || !json_is_integer(b1) ||
            json_integer_value(b0) < 1 || json_integer_value(b1) < 1 ||
            json_integer_value(b0) > MAX_BLOCK || json_integer_value(b1) > MAX_BLOCK)
            return mk_fail(v->err, MK_ERR_INPUT,
                           "%s: quantization_config.%s.block_structure is not two positive "
                           "integers",
                           path, where);
        snprintf(s->name, sizeof s->name, "fp8-ct-block");
        s->scale = SCALE_BLOCK;
        s->bn = json_integer_value(b0);
        s->bk = json_integer_value(b1);
    } else if (!is_float_type && ok_format && strcmp(st, "channel") == 0) {
        snprintf(s->name, sizeof s->name, "int8-channel");
        s->scale = SCALE_CHANNEL;
    } else if (!is_float_type && strcmp(format, "pack-quantized") == 0 &&
               strcmp(st, "group") == 0) {
        if (!gs || json_integer_value(gs) < 1 || json_integer_value(gs) > MAX_BLOCK)
            return mk_fail(v->err, MK_ERR_INPUT,
                           "%s: quantization_config.%s.group_size is not a positive integer", path,
                           where);
        snprintf(s->name, sizeof s->name, "int8-group");
        s->packed = true;
        s->scale = SCALE_GROUP;
        s->group = json_integer_value(gs);
    } else {
        return mk_fail(v->err, MK_ERR_INPUT,
                       "%s: quantization_config: %s weights with strategy '%.40s' in format "
                       "'%.40s' are unsupported",
                       path, t, st, format);
    }
    const json_t *in = json_object_get(g, "input_activations");
    if (in && !json_is_null(in)) {
        if (!json_is_object(in))
            return mk_fail(v->err, MK_ERR_INPUT,
                           "%s: quantization_config.config_groups.%s.input_activations is %s",
                           path, s->group_name, json_kind(in));
        const json_t *idyn = json_object_get(in, "dynamic");
        const json_t *isym = json_object_get(in, "symmetric");
        s->static_input = !idyn || json_is_false(idyn);
        s->input_zero_point = s->static_input && isym && json_is_false(isym);
    }
    const json_t *targets = json_object_get(g, "targets");
    if (!json_is_array(targets) || json_array_size(targets) == 0)
        return mk_fail(v->err, MK_ERR_INPUT,
                       "%s: quantization_config.config_groups.%s.targets is not a non-empty array",
                       path, s->group_name);
    snprintf(where, sizeof where, "config_groups.%s.targets", s->group_name);
    return name_set_load(&s->targets, targets, path, where, true, true, v->err);
}

static int parse_ct(verifier *v, const json_t *qc) {
    qconfig *q = &v->q;
    const char *path = v->config_path;
    const json_t *groups = json_object_get(qc, "config_groups");
    if (!json_is_object(groups) || json_object_size(groups) == 0)
        return mk_fail(v->err, MK_ERR_INPUT,
                       "%s: quantization_config.config_groups is %s, expected an object with at "
                       "least one group",
                       path, groups ? json_kind(groups) : "missing");
    q->groups = calloc(json_object_size(groups), sizeof *q->groups);
    if (!q->groups) return mk_fail(v->err, MK_ERR_INTERNAL, "out of memory");
    q->quantized = true;
    q->ct = true;
    bool mixed = json_object_size(groups) > 1;
    const scheme *every_linear = NULL;
    const char *gname;
    const json_t *g;
    int rc;
    json_object_foreach((json_t *)groups, gname, g) {
        scheme *s = &q->groups[q->n_groups++];
        snprintf(s->group_name, sizeof s->group_name, "%.50s", gname);
        if ((rc = parse_ct_group(v, qc, g, s))) return rc;
        if (mixed)
            snprintf(s->label, sizeof s->label, "%s (config_groups.%s)", s->name, s->group_name);
        else
            snprintf(s->label, sizeof s->label, "%s", s->name);
        /* vLLM keys its schemes by target: a second class target would
         * silently replace the first. */
        if (s->targets.all && every_linear)
            return mk_fail(v->err, MK_ERR_INPUT,
                           "%s: quantization_config.config_groups.%s and config_groups.%s both "
                           "target every Linear module; engines would use only one of them",
                           path, every_linear->group_name, s->group_name);
        if (s->targets.all) every_linear = s;
    }
    snprintf(q->name, sizeof q->name, "%s", mixed ? "mixed" : q->groups[0].name);
    const json_t *ign = get_list(v, qc, "ignore", &rc);
    if (rc) return rc;
    q->ignore_key = "ignore";
    q->has_ignore_list = ign && json_array_size(ign) > 0;
    if (ign) return name_set_load(&q->ignore, ign, path, "ignore", true, false, v->err);
    return MK_OK;
}

static int load_config(verifier *v) {
    snprintf(v->q.name, sizeof v->q.name, "none");
    struct stat st;
    if (stat(v->config_path, &st) != 0) {
        if (errno == ENOENT) return MK_OK;
        return mk_fail(v->err, MK_ERR_INPUT, "%s: %s", v->config_path, strerror(errno));
    }
    v->has_config = true;
    char *text;
    size_t len;
    int rc = mk_read_file(v->config_path, MAX_JSON_BYTES, &text, &len, v->err);
    if (rc) return rc;
    json_error_t je;
    v->config = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (v->config && json_is_object(v->config)) {
        /* Roles need a supported architecture; an unknown one only turns
         * the "unquantized linear" rule off. */
        mk_error cerr = {0};
        if (mk_config_parse(text, len, v->config_path, &v->cfg_store, &cerr) == MK_OK)
            v->cfg = &v->cfg_store;
    }
    free(text);
    if (!v->config)
        return mk_fail(v->err, MK_ERR_INPUT, "%s: invalid JSON at line %d column %d: %s",
                       v->config_path, je.line, je.column, je.text);
    if (!json_is_object(v->config))
        return mk_fail(v->err, MK_ERR_INPUT, "%s: not a JSON object", v->config_path);
    const json_t *qc = json_object_get(v->config, "quantization_config");
    /* Early compressed-tensors releases wrote the same object under this name. */
    if (!qc || json_is_null(qc)) qc = json_object_get(v->config, "compression_config");
    if (!qc || json_is_null(qc)) return MK_OK;
    if (!json_is_object(qc))
        return mk_fail(v->err, MK_ERR_INPUT, "%s: quantization_config is %s, expected an object",
                       v->config_path, json_kind(qc));
    const json_t *qm = json_object_get(qc, "quant_method");
    if (!json_is_string(qm))
        return mk_fail(v->err, MK_ERR_INPUT,
                       "%s: quantization_config.quant_method is %s, expected a string",
                       v->config_path, qm ? json_kind(qm) : "missing");
    const char *m = json_string_value(qm);
    if (strcmp(m, "fp8") == 0) return parse_fp8(v, qc);
    if (strcmp(m, "compressed-tensors") == 0) return parse_ct(v, qc);
    return mk_fail(v->err, MK_ERR_INPUT,
                   "%s: quantization_config.quant_method '%.60s' is unsupported (moekit verifies "
                   "\"fp8\" and \"compressed-tensors\")",
                   v->config_path, m);
}

/* ---- step 4: tensors against the scheme ---- */

static const char *const k_companions[] = {
    "weight_scale_inv", "weight_scale",     "weight_shape",     "input_scale",
    "input_zero_point", "weight_zero_point", "weight_global_scale",
};

static bool is_companion(const char *suffix) {
    for (size_t i = 0; i < sizeof k_companions / sizeof *k_companions; i++)
        if (strcmp(suffix, k_companions[i]) == 0) return true;
    return false;
}

/* Roles whose 2-D weights are linear layers a quantized checkpoint either
 * quantizes or lists as ignored.  An MTP layer's embed_tokens is an
 * embedding, and its norms are 1-D. */
static bool linear_role(mk_tensor_kind k, const char *name, size_t mlen) {
    switch (k) {
    case MK_T_ATTENTION:
    case MK_T_DENSE_MLP:
    case MK_T_ROUTED_EXPERT:
    case MK_T_SHARED_EXPERT:
    case MK_T_ROUTER:
    case MK_T_LM_HEAD: return true;
    case MK_T_MTP: return !ends_with(name, mlen, ".embed_tokens");
    default: return false;
    }
}

/* Modules vLLM builds unquantized whatever the config says (routers, the
 * LM head, DeepSeek-V3's MTP eh_proj and shared head): the only unquantized
 * linears an fp8 config without any ignore list - DeepSeek-V3's own
 * release - may hold. */
static bool never_quantized(const char *name, size_t mlen) {
    return (mlen == 7 && memcmp(name, "lm_head", 7) == 0) || ends_with(name, mlen, ".mlp.gate") ||
           ends_with(name, mlen, ".block_sparse_moe.gate") ||
           ends_with(name, mlen, ".shared_expert_gate") || ends_with(name, mlen, ".eh_proj") ||
           ends_with(name, mlen, ".shared_head.head");
}

/* The module path of `t` as a NUL-terminated string in a caller buffer. */
static const char *module_of(const tensor_ref *t, size_t mlen, char **heap) {
    *heap = malloc(mlen + 1);
    if (!*heap) return NULL;
    memcpy(*heap, t->name, mlen);
    (*heap)[mlen] = '\0';
    return *heap;
}

static bool allowed_scale_dtype(const scheme *s, mk_dtype dt) {
    return dt == MK_DT_F32 || (s->scale_any_float && (dt == MK_DT_BF16 || dt == MK_DT_F16));
}

static bool tensor_like(const mk_tensor_info *t) {
    return t->ndim == 0 || (t->ndim == 1 && t->shape[0] == 1);
}

/* input_scale / input_zero_point of a quantized module: required, with one
 * value, for static activations.  One where activations are dynamic is
 * reported by check_companion. */
static int check_input_tensor(verifier *v, const scheme *s, const tensor_ref *w, size_t mlen,
                              const char *suffix, bool wanted, bool need_float) {
    if (!wanted) return MK_OK;
    const tensor_ref *t = find_sibling(v, w->name, mlen, suffix);
    if (!t)
        return mk_fail(v->err, MK_ERR_INPUT,
                       "%s: quantized weight '%s' has no '%.*s.%s' (activations are static in %s)",
                       mk_st_path(w->file), w->name, (int)mlen, w->name, suffix, s->label);
    char sh[128];
    if (!tensor_like(t->info))
        return mk_fail(v->err, MK_ERR_INPUT, "%s: tensor '%s' has shape %s, expected [] or [1]",
                       mk_st_path(t->file), t->name, shape_str(t->info, sh, sizeof sh));
    if (need_float && !allowed_scale_dtype(s, t->info->dtype))
        return mk_fail(v->err, MK_ERR_INPUT, "%s: tensor '%s' is %s, expected F32%s",
                       mk_st_path(t->file), t->name, mk_dtype_name(t->info->dtype),
                       s->scale_any_float ? ", BF16 or F16" : "");
    return MK_OK;
}

/* The scheme whose targets match `module`.  compressed-tensors (like vLLM's
 * find_matched_target) prefers a group naming the module, exactly or by
 * "re:", to the group targeting every Linear; *twice gets a second group
 * that also names it.  NULL when no group matches. */
static const scheme *group_of(const qconfig *q, const char *module, const scheme **twice) {
    *twice = NULL;
    if (!q->ct) return &q->groups[0];
    const scheme *by_name = NULL, *by_class = NULL;
    for (size_t i = 0; i < q->n_groups; i++) {
        const scheme *g = &q->groups[i];
        if (name_set_names(&g->targets, module)) {
            if (!by_name)
                by_name = g;
            else if (!*twice)
                *twice = g;
        }
        if (g->targets.all && !by_class) by_class = g;
    }
    return by_name ? by_name : by_class;
}

/* A quantized primary tensor: weight_packed, or a one-byte `weight`. */
static bool is_quantized_primary(const tensor_ref *t) {
    const char *dot = strrchr(t->name, '.');
    return (dot && strcmp(dot + 1, "weight_packed") == 0) || mk_dtype_size(t->info->dtype) == 1;
}

/* The scheme that the module of quantized primary `w` is checked against:
 * the module must not be ignored and must match exactly one group by name,
 * or else the group targeting every Linear. */
static int quantized_group(verifier *v, const tensor_ref *w, size_t mlen, const scheme **out) {
    const qconfig *q = &v->q;
    const char *path = mk_st_path(w->file);
    if (v->last_module && strlen(v->last_module) == mlen &&
        memcmp(v->last_module, w->name, mlen) == 0) {
        *out = v->last_group;
        return MK_OK;
    }
    char *heap;
    const char *module = module_of(w, mlen, &heap);
    if (!module) return mk_fail(v->err, MK_ERR_INTERNAL, "out of memory");
    const scheme *twice;
    *out = NULL;
    int rc = MK_OK;
    if (name_set_has(&q->ignore, module)) {
        rc = mk_fail(v->err, MK_ERR_INPUT,
                     "%s: tensor '%s' is quantized (%s) but module '%s' is in "
                     "quantization_config.%s, so engines would load it as unquantized",
                     path, w->name, mk_dtype_name(w->info->dtype), module, q->ignore_key);
    } else if ((*out = group_of(q, module, &twice)) == NULL) {
        if (q->n_groups == 1)
            rc = mk_fail(v->err, MK_ERR_INPUT,
                         "%s: tensor '%s' is quantized but module '%s' is not matched by "
                         "quantization_config.config_groups.%s.targets",
                         path, w->name, module, q->groups[0].group_name);
        else
            rc = mk_fail(v->err, MK_ERR_INPUT,
                         "%s: module '%s' is quantized but matches no config group (tensor "
                         "'%s'; no group of quantization_config.config_groups names it or "
                         "targets Linear)",
                         path, module, w->name);
    } else if (twice) {
        rc = mk_fail(v->err, MK_ERR_INPUT,
                     "%s: module '%s' is matched by name by both "
                     "quantization_config.config_groups.%s.targets and config_groups.%s.targets, "
                     "so its scheme is ambiguous",
                     path, module, (*out)->group_name, twice->group_name);
    }
    if (rc) {
        free(heap);
        return rc;
    }
    free(v->last_module);
    v->last_module = heap;
    v->last_group = *out;
    return MK_OK;
}

/* Quantized primary `w` must be in the form of its scheme `s`. */
static int check_form(verifier *v, const scheme *s, const tensor_ref *w) {
    const char *path = mk_st_path(w->file);
    mk_dtype dt = w->info->dtype;
    const char *dot = strrchr(w->name, '.');
    bool packed = dot && strcmp(dot + 1, "weight_packed") == 0;
    if (packed && !s->packed)
        return mk_fail(v->err, MK_ERR_INPUT, "%s: tensor '%s' is not part of the %s form", path,
                       w->name, s->label);
    if (!packed && s->packed)
        return mk_fail(v->err, MK_ERR_INPUT,
                       "%s: tensor '%s' is %s, but %s stores quantized weights as "
                       "weight_packed (I32)",
                       path, w->name, mk_dtype_name(dt), s->label);
    if (!packed && dt != s->qdtype)
        return mk_fail(v->err, MK_ERR_INPUT,
                       "%s: tensor '%s' is %s, but %s stores quantized weights as %s", path,
                       w->name, mk_dtype_name(dt), s->label, mk_dtype_name(s->qdtype));
    return MK_OK;
}

/* `w` is the quantized form of a module: its `weight` in a one-byte dtype,
 * or its `weight_packed`. */
static int check_quantized(verifier *v, const tensor_ref *w, size_t mlen) {
    const scheme *s;
    int rc;
    if ((rc = quantized_group(v, w, mlen, &s)) || (rc = check_form(v, s, w))) return rc;
    const char *path = mk_st_path(w->file);
    v->r->n_quantized++;
    char sh[128], want[128];
    const mk_tensor_info *wi = w->info;
    if (wi->ndim != 2)
        return mk_fail(v->err, MK_ERR_INPUT, "%s: quantized weight '%s' has shape %s, expected 2-D",
                       path, w->name, shape_str(wi, sh, sizeof sh));
    int64_t n = wi->shape[0], k = wi->shape[1];
    if (s->packed) {
        if (wi->dtype != MK_DT_I32)
            return mk_fail(v->err, MK_ERR_INPUT, "%s: tensor '%s' is %s, expected I32", path,
                           w->name, mk_dtype_name(wi->dtype));
        const tensor_ref *ws = find_sibling(v, w->name, mlen, "weight_shape");
        if (!ws) {
            const char *nm = sibling(v, w->name, mlen, "weight_shape");
            return mk_fail(v->err, MK_ERR_INPUT, "%s: packed weight '%s' has no '%s'", path,
                           w->name, nm ? nm : "weight_shape");
        }
        if (ws->info->dtype != MK_DT_I64 || ws->info->ndim != 1 || ws->info->shape[0] != 2)
            return mk_fail(v->err, MK_ERR_INPUT, "%s: tensor '%s' is %s %s, expected I64 [2]",
                           mk_st_path(ws->file), ws->name, mk_dtype_name(ws->info->dtype),
                           shape_str(ws->info, sh, sizeof sh));
        int64_t dims[2];
        memcpy(dims, mk_st_data(ws->file, ws->info), sizeof dims); /* little-endian host */
        if (dims[0] != n || dims[1] < 1 || dims[1] > INT64_MAX - 3 || ceil_div(dims[1], 4) != k)
            return mk_fail(v->err, MK_ERR_INPUT,
                           "%s: tensor '%s' holds [%" PRId64 ", %" PRId64
                           "] but '%s' is %s (8-bit values packed 4 per I32 need [%" PRId64
                           ", ceil(K/4)])",
                           mk_st_path(ws->file), ws->name, dims[0], dims[1], w->name,
                           shape_str(wi, sh, sizeof sh), dims[0]);
        k = dims[1];
    }
    const tensor_ref *sc = find_sibling(v, w->name, mlen, s->scale_suffix);
    if (!sc) {
        /* The other scheme's scale name is the likeliest mistake: say so. */
        const char *other = s->scale == SCALE_BLOCK && !s->ct ? "weight_scale" : "weight_scale_inv";
        bool has_other = find_sibling(v, w->name, mlen, other) != NULL;
        return mk_fail(v->err, MK_ERR_INPUT,
                       "%s: quantized weight '%s' has no scale '%.*s.%s' (%s)%s%.*s%s%s%s", path,
                       w->name, (int)mlen, w->name, s->scale_suffix, s->label,
                       has_other ? "; '" : "", has_other ? (int)mlen : 0, w->name,
                       has_other ? "." : "", has_other ? other : "",
                       has_other ? "' is not a name this scheme uses" : "");
    }
    const mk_tensor_info *si = sc->info;
    if (!allowed_scale_dtype(s, si->dtype))
        return mk_fail(v->err, MK_ERR_INPUT, "%s: scale '%s' is %s, but %s needs F32%s",
                       mk_st_path(sc->file), sc->name, mk_dtype_name(si->dtype), s->label,
                       s->scale_any_float ? ", BF16 or F16" : " scales");
    int64_t rows = 0, cols = 0;
    switch (s->scale) {
    case SCALE_TENSOR:
        if (!tensor_like(si))
            return mk_fail(v->err, MK_ERR_INPUT,
                           "%s: scale '%s' has shape %s, but %s needs one value ([] or [1])",
                           mk_st_path(sc->file), sc->name, shape_str(si, sh, sizeof sh), s->label);
        break;
    case SCALE_CHANNEL: rows = n; cols = 1; break;
    case SCALE_BLOCK: rows = ceil_div(n, s->bn); cols = ceil_div(k, s->bk); break;
    case SCALE_GROUP: rows = n; cols = ceil_div(k, s->group); break;
    }
    if (s->scale != SCALE_TENSOR &&
        (si->ndim != 2 || si->shape[0] != rows || si->shape[1] != cols)) {
        snprintf(want, sizeof want, "[%" PRId64 ", %" PRId64 "]", rows, cols);
        return mk_fail(v->err, MK_ERR_INPUT,
                       "%s: scale '%s' has shape %s, but %s weight '%s' of [%" PRId64 ", %" PRId64
                       "] needs %s",
                       mk_st_path(sc->file), sc->name, shape_str(si, sh, sizeof sh), s->label,
                       w->name, n, k, want);
    }
    if ((rc = check_input_tensor(v, s, w, mlen, "input_scale", s->static_input, true))) return rc;
    return check_input_tensor(v, s, w, mlen, "input_zero_point", s->input_zero_point, false);
}

/* A float `weight`: fine unless it is a linear the config says to quantize. */
static int check_unquantized(verifier *v, const tensor_ref *t, size_t mlen) {
    const qconfig *q = &v->q;
    if (find_sibling(v, t->name, mlen, "weight_packed")) {
        const char *nm = sibling(v, t->name, mlen, "weight_packed");
        return mk_fail(v->err, MK_ERR_INPUT, "%s: module has both '%s' and '%s'",
                       mk_st_path(t->file), t->name, nm ? nm : "weight_packed");
    }
    if (!v->cfg || t->info->ndim != 2) return MK_OK;
    mk_tensor_role role;
    mk_classify(v->cfg, t->name, &role);
    if (!linear_role(role.kind, t->name, mlen)) return MK_OK;
    char *heap;
    const char *module = module_of(t, mlen, &heap);
    if (!module) return mk_fail(v->err, MK_ERR_INTERNAL, "out of memory");
    int rc = MK_OK;
    const scheme *twice;
    const scheme *s = group_of(q, module, &twice);
    bool exempt = name_set_has(&q->ignore, module) || !s ||
                  (!q->ct && !q->has_ignore_list && never_quantized(t->name, mlen));
    if (!exempt && !q->ct && !q->has_ignore_list)
        rc = mk_fail(v->err, MK_ERR_INPUT,
                     "%s: tensor '%s' (%s) is stored unquantized as %s, but quantization_config "
                     "has no ignored_layers; without one only routers, lm_head and MTP "
                     "eh_proj/shared_head may stay unquantized in %s form",
                     mk_st_path(t->file), t->name, mk_tensor_kind_name(role.kind),
                     mk_dtype_name(t->info->dtype), s->label);
    else if (!exempt)
        rc = mk_fail(v->err, MK_ERR_INPUT,
                     "%s: tensor '%s' (%s) is stored unquantized as %s, but module '%s' is not in "
                     "quantization_config.%s, so engines would expect it in %s form",
                     mk_st_path(t->file), t->name, mk_tensor_kind_name(role.kind),
                     mk_dtype_name(t->info->dtype), module, q->ignore_key, s->label);
    free(heap);
    return rc;
}

static int check_weight(verifier *v, const tensor_ref *t, size_t mlen) {
    mk_dtype dt = t->info->dtype;
    if (is_float(dt)) return check_unquantized(v, t, mlen);
    if (mk_dtype_size(dt) == 1) return check_quantized(v, t, mlen);
    return MK_OK;
}

/* A scale or other companion: it must be one its module's scheme uses, and
 * belong to a quantized weight (whose check covers its dtype and shape). */
static int check_companion(verifier *v, const tensor_ref *t, size_t mlen, const char *suffix) {
    const qconfig *q = &v->q;
    const char *path = mk_st_path(t->file);
    const tensor_ref *w = find_sibling(v, t->name, mlen, "weight_packed");
    if (!w) w = find_sibling(v, t->name, mlen, "weight");
    const scheme *s;
    int rc;
    bool quantized = w && is_quantized_primary(w);
    if (quantized) {
        /* The same failure its weight would report, whichever comes first. */
        if ((rc = quantized_group(v, w, mlen, &s)) || (rc = check_form(v, s, w))) return rc;
    } else {
        char *heap;
        const char *module = module_of(t, mlen, &heap);
        if (!module) return mk_fail(v->err, MK_ERR_INTERNAL, "out of memory");
        const scheme *twice;
        s = group_of(q, module, &twice);
        if (!s) s = &q->groups[0];
        free(heap);
    }
    bool used = strcmp(suffix, s->scale_suffix) == 0 ||
                (s->packed && strcmp(suffix, "weight_shape") == 0) ||
                (s->static_input && strcmp(suffix, "input_scale") == 0) ||
                (s->input_zero_point && strcmp(suffix, "input_zero_point") == 0);
    if (!used) {
        if (strcmp(suffix, "input_scale") == 0 || strcmp(suffix, "input_zero_point") == 0)
            return mk_fail(v->err, MK_ERR_INPUT,
                           "%s: tensor '%s' is unexpected: %s activations are dynamic%s", path,
                           t->name, s->label,
                           strcmp(suffix, "input_zero_point") == 0 ? " or symmetric" : "");
        return mk_fail(v->err, MK_ERR_INPUT,
                       "%s: tensor '%s' is not part of the %s form (its scales are named %s%s)",
                       path, t->name, s->label, s->scale_suffix,
                       s->packed ? ", beside weight_packed and weight_shape" : "");
    }
    if (quantized) return MK_OK;
    const char *nm = sibling(v, t->name, mlen, s->packed ? "weight_packed" : "weight");
    if (!nm) return mk_fail(v->err, MK_ERR_INTERNAL, "out of memory");
    if (w)
        return mk_fail(v->err, MK_ERR_INPUT,
                       "%s: tensor '%s' is an orphan: '%s' is stored unquantized (%s)", path,
                       t->name, nm, mk_dtype_name(w->info->dtype));
    return mk_fail(v->err, MK_ERR_INPUT,
                   "%s: tensor '%s' is an orphan: there is no quantized weight '%s'", path, t->name,
                   nm);
}

static int check_tensors(verifier *v) {
    if (!v->q.quantized) return MK_OK;
    for (size_t i = 0; i < v->n_refs; i++) {
        const tensor_ref *t = &v->refs[i];
        const char *dot = strrchr(t->name, '.');
        if (!dot || dot == t->name) continue;
        size_t mlen = (size_t)(dot - t->name);
        const char *suffix = dot + 1;
        int rc = MK_OK;
        if (strcmp(suffix, "weight") == 0)
            rc = check_weight(v, t, mlen);
        else if (strcmp(suffix, "weight_packed") == 0)
            rc = check_quantized(v, t, mlen);
        else if (is_companion(suffix))
            rc = check_companion(v, t, mlen, suffix);
        if (rc) return rc;
    }
    return MK_OK;
}

/* ---- step 5: the manifest against the files ---- */

static const manifest_file *manifest_find(const verifier *v, const char *name) {
    size_t lo = 0, hi = v->n_mfiles;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(v->mfiles[mid].name, name);
        if (c == 0) return &v->mfiles[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int require_listed(verifier *v, const char *name) {
    if (manifest_find(v, name)) return MK_OK;
    return mk_fail(v->err, MK_ERR_INPUT, "%s/%s: not listed in %s, so its bytes cannot be checked",
                   v->dir, name, MANIFEST_NAME);
}

static int size_mismatch(verifier *v, const manifest_file *mf, uint64_t have) {
    return mk_fail(v->err, MK_ERR_INPUT,
                   "%s/%s: %" PRIu64 " bytes, but the manifest says %" PRIu64, v->dir, mf->name,
                   have, mf->bytes);
}

static int hash_file(verifier *v, const manifest_file *mf, unsigned char *buf) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", v->dir, mf->name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return mk_fail(v->err, MK_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    XXH64_state_t *st = XXH64_createState();
    if (!st) {
        close(fd);
        return mk_fail(v->err, MK_ERR_INTERNAL, "out of memory");
    }
    XXH64_reset(st, 0);
    uint64_t total = 0;
    int rc = MK_OK;
    for (;;) {
        ssize_t got = read(fd, buf, HASH_CHUNK);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            rc = mk_fail(v->err, MK_ERR_INPUT, "%s: read: %s", path, strerror(errno));
            break;
        }
        if (got == 0) break;
        XXH64_update(st, buf, (size_t)got);
        total += (uint64_t)got;
    }
    uint64_t h = XXH64_digest(st);
    XXH64_freeState(st);
    close(fd);
    if (rc) return rc;
    if (total != mf->bytes) return size_mismatch(v, mf, total); /* changed while reading */
    if (h != mf->xxh64)
        return mk_fail(v->err, MK_ERR_INPUT,
                       "%s: xxh64 0x%016" PRIx64 " does not match the manifest's 0x%016" PRIx64,
                       path, h, mf->xxh64);
    return MK_OK;
}

static int check_manifest(verifier *v) {
    if (!v->manifest) return MK_OK;
    /* `convert --scheme bf16|f16` writes plain checkpoints: scheme "none" here. */
    bool cast = !v->q.quantized && v->manifest_scheme &&
                (strcmp(v->manifest_scheme, "bf16") == 0 || strcmp(v->manifest_scheme, "f16") == 0);
    /* `convert --recipe` says "mixed" whatever groups its recipe came to. */
    bool mixed = v->q.quantized && v->manifest_scheme && strcmp(v->manifest_scheme, "mixed") == 0;
    if (v->manifest_scheme && !cast && !mixed && strcmp(v->manifest_scheme, v->q.name) != 0)
        return mk_fail(v->err, MK_ERR_INPUT,
                       "%s: scheme '%.60s' does not match the '%s' that config.json and the "
                       "tensors describe",
                       v->manifest_path, v->manifest_scheme, v->q.name);
    /* A manifest that leaves a shard out would let that shard's bytes rot
     * unnoticed: the loader-facing files must all be covered. */
    int rc;
    for (size_t i = 0; i < mk_ckpt_n_files(v->ckpt); i++)
        if ((rc = require_listed(v, mk_ckpt_file_name(v->ckpt, i)))) return rc;
    if (mk_ckpt_has_index(v->ckpt) && (rc = require_listed(v, MK_INDEX_NAME))) return rc;
    if (v->has_config && (rc = require_listed(v, CONFIG_NAME))) return rc;
    /* Sizes first: a missing or truncated file fails before hours of hashing. */
    for (size_t i = 0; i < v->n_mfiles; i++) {
        const manifest_file *mf = &v->mfiles[i];
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", v->dir, mf->name);
        struct stat st;
        if (stat(path, &st) != 0)
            return mk_fail(v->err, MK_ERR_INPUT, "%s: listed in %s but %s", path, MANIFEST_NAME,
                           errno == ENOENT ? "missing" : strerror(errno));
        if (!S_ISREG(st.st_mode))
            return mk_fail(v->err, MK_ERR_INPUT, "%s: listed in %s but not a regular file", path,
                           MANIFEST_NAME);
        if ((uint64_t)st.st_size != mf->bytes) return size_mismatch(v, mf, (uint64_t)st.st_size);
    }
    unsigned char *buf = malloc(HASH_CHUNK);
    if (!buf) return mk_fail(v->err, MK_ERR_INTERNAL, "out of memory");
    rc = MK_OK;
    for (size_t i = 0; i < v->n_mfiles && !rc; i++) {
        rc = hash_file(v, &v->mfiles[i], buf);
        if (!rc) v->r->n_manifest_files++;
    }
    free(buf);
    return rc;
}

/* ---- entry point ---- */

static int run(verifier *v) {
    struct stat st;
    if (stat(v->dir, &st) != 0)
        return mk_fail(v->err, MK_ERR_INPUT, "%s: %s", v->dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return mk_fail(v->err, MK_ERR_INPUT, "%s: not a folder (verify checks a checkpoint folder)",
                       v->dir);
    int rc;
    if ((rc = load_manifest(v))) return rc;
    if ((rc = mk_ckpt_open(v->dir, &v->ckpt, v->err))) return rc;
    if ((rc = mk_ckpt_load_all(v->ckpt, v->err)) || (rc = check_unlisted(v)) ||
        (rc = check_folder_shards(v)) || (rc = collect_tensors(v)) || (rc = load_config(v)))
        return rc;
    snprintf(v->r->scheme, sizeof v->r->scheme, "%s", v->q.name);
    if ((rc = check_tensors(v))) return rc;
    return check_manifest(v);
}

int mk_verify(const char *dir, mk_verify_report *r, mk_error *err) {
    memset(r, 0, sizeof *r);
    verifier v;
    memset(&v, 0, sizeof v);
    /* Trailing slashes would double up in messages and paths. */
    char clean[MAX_DIR_LEN + 1];
    if (strlen(dir) > MAX_DIR_LEN)
        return mk_fail(err, MK_ERR_INPUT, "%.200s...: path longer than %d bytes", dir, MAX_DIR_LEN);
    snprintf(clean, sizeof clean, "%s", dir);
    size_t l = strlen(clean);
    while (l > 1 && clean[l - 1] == '/') clean[--l] = '\0';
    v.dir = clean;
    v.r = r;
    v.err = err;
    snprintf(v.config_path, sizeof v.config_path, "%s/%s", clean, CONFIG_NAME);
    snprintf(v.manifest_path, sizeof v.manifest_path, "%s/%s", clean, MANIFEST_NAME);
    int rc = run(&v);
    qconfig_free(&v.q);
    if (v.cfg) mk_config_free(&v.cfg_store);
    json_decref(v.config);
    json_decref(v.manifest);
    free(v.mfiles);
    free(v.refs);
    free(v.slots);
    free(v.buf);
    free(v.last_module);
    mk_ckpt_close(v.ckpt);
    return rc;
}
