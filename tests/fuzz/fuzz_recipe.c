/*
 * Fuzz target: YAML conversion recipes (mk_recipe_parse), then matching a few
 * fixed tensor names against the compiled rules.
 */
#include <stdint.h>
#include <string.h>

#include "moekit/recipe.h"
#include "tests/fuzz/fuzz_common.h"

static const char *const k_names[] = {
    "model.embed_tokens.weight",
    "model.layers.0.self_attn.q_proj.weight",
    "model.layers.3.mlp.experts.17.down_proj.weight",
    "model.layers.12.mlp.gate.weight",
    "lm_head.weight",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mk_recipe r;
    mk_error err = {0};
    int rc = mk_recipe_parse((const char *)data, size, "recipe.yaml", &r, &err);
    if (rc) {
        FZ_CHECK((rc == MK_ERR_INPUT || rc == MK_ERR_INTERNAL) && err.code == rc && err.msg[0]);
        mk_recipe_free(&r);
        return 0;
    }
    FZ_CHECK(r.text != NULL && memcmp(r.text, data, size) == 0);
    for (size_t i = 0; i < r.n_keep; i++) FZ_CHECK(r.keep[i].pattern && r.keep[i].keep);
    for (size_t i = 0; i < r.n_overrides; i++) FZ_CHECK(r.overrides[i].pattern != NULL);
    for (size_t i = 0; i < sizeof k_names / sizeof *k_names; i++) {
        const mk_recipe_rule *rule = mk_recipe_match(&r, k_names[i]);
        if (rule && !rule->keep) (void)mk_scheme_name(rule->scheme);
    }
    mk_recipe_free(&r);
    return 0;
}
