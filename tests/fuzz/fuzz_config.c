/*
 * Fuzz target: config.json (mk_config_parse), then what every tool does with
 * a parsed config: list the expected tensors (bounded: at most 200,000, the
 * callback stops the walk) and classify names against it.
 */
#include <stdint.h>
#include <string.h>

#include "moekit/model.h"
#include "tests/fuzz/fuzz_common.h"

#define MAX_TENSORS 200000
#define N_CLASSIFIED 64

typedef struct walk {
    const mk_model_config *cfg;
    size_t n;
} walk;

static int on_tensor(const mk_expected_tensor *t, void *ctx) {
    walk *w = ctx;
    FZ_CHECK(memchr(t->name, '\0', sizeof t->name) != NULL);
    FZ_CHECK(t->ndim == 1 || t->ndim == 2);
    FZ_CHECK((unsigned)t->dtype < MK_DT_COUNT);
    FZ_CHECK(t->role.suffix_off <= strlen(t->name));
    if (w->n < N_CLASSIFIED) {
        mk_tensor_role role;
        mk_classify(w->cfg, t->name, &role);
        (void)mk_tensor_kind_name(role.kind);
        (void)mk_proj_name(role.proj);
    }
    return ++w->n >= MAX_TENSORS;
}

static const char *const k_names[] = {
    "model.embed_tokens.weight",
    "model.layers.0.self_attn.q_proj.weight",
    "model.layers.1.mlp.experts.7.down_proj.weight",
    "model.layers.3.block_sparse_moe.experts.0.w2.weight",
    "model.layers.61.mlp.experts.255.gate_proj.weight_scale_inv",
    "model.layers.2.mlp.gate.e_score_correction_bias",
    "lm_head.weight",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mk_model_config cfg;
    mk_error err = {0};
    int rc = mk_config_parse((const char *)data, size, "config.json", &cfg, &err);
    if (rc) {
        FZ_CHECK((rc == MK_ERR_INPUT || rc == MK_ERR_INTERNAL) && err.code == rc && err.msg[0]);
        FZ_CHECK(cfg.is_moe == NULL);
        mk_config_free(&cfg);
        return 0;
    }
    FZ_CHECK((unsigned)cfg.arch < MK_ARCH_COUNT && cfg.is_moe != NULL);
    FZ_CHECK(cfg.hidden_size >= 1 && cfg.num_layers >= 1 && cfg.num_heads >= 1);
    FZ_CHECK(cfg.top_k <= cfg.n_routed_experts || !mk_arch_is_moe(cfg.arch));
    (void)mk_arch_name(cfg.arch);
    int n_moe = mk_config_n_moe_layers(&cfg);
    FZ_CHECK(n_moe >= 0 && n_moe <= cfg.num_layers);
    walk w = {&cfg, 0};
    rc = mk_model_expected(&cfg, on_tensor, &w);
    FZ_CHECK(rc == 0 || w.n >= MAX_TENSORS);
    for (size_t i = 0; i < sizeof k_names / sizeof *k_names; i++) {
        mk_tensor_role role;
        mk_classify(&cfg, k_names[i], &role);
    }
    mk_config_free(&cfg);
    return 0;
}
