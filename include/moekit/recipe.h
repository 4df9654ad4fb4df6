/*
 * moekit/recipe.h - YAML conversion recipes.
 *
 *   scheme: fp8-channel            # default for quantizable weights
 *   keep:                          # stay in source precision
 *     - "model.layers.[0-2].*"
 *     - 're:.*\.mlp\.gate\..*'    # single quotes: YAML leaves backslashes alone
 *   overrides:                     # ordered; first match wins
 *     - match: "*.self_attn.*"
 *       scheme: int8-channel       # or "keep"
 *
 * Patterns match whole tensor names: shell globs (fnmatch, `*` crosses dots,
 * `[0-2]` classes) or, after "re:", POSIX extended regular expressions
 * anchored at both ends.  `keep` is consulted before `overrides`, as
 * llama-quantize's --tensor-type rules are consulted in order.  Unknown keys,
 * bad patterns and bad schemes are errors naming the recipe's line.
 */
#ifndef MOEKIT_RECIPE_H
#define MOEKIT_RECIPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "moekit/error.h"
#include "moekit/scheme.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mk_recipe_rule {
    char *pattern;     /* as written, "re:" included */
    int line;          /* 1-based line in the recipe */
    bool keep;         /* keep in source precision */
    mk_scheme scheme;  /* when !keep */
    void *re;          /* compiled regex_t for "re:" patterns */
} mk_recipe_rule;

typedef struct mk_recipe {
    char *path;
    char *text;        /* the YAML as read, stored in the manifest */
    bool has_scheme;
    mk_scheme scheme;
    mk_recipe_rule *keep;
    size_t n_keep;
    mk_recipe_rule *overrides;
    size_t n_overrides;
} mk_recipe;

int mk_recipe_parse(const char *text, size_t len, const char *path, mk_recipe *r, mk_error *err);
int mk_recipe_load(const char *path, mk_recipe *r, mk_error *err);
void mk_recipe_free(mk_recipe *r);
bool mk_recipe_rule_matches(const mk_recipe_rule *rule, const char *name);
/* The first rule deciding `name` (keep rules, then overrides), or NULL. */
const mk_recipe_rule *mk_recipe_match(const mk_recipe *r, const char *name);

#ifdef __cplusplus
}
#endif
#endif
