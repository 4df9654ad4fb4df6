/*
 * YAML recipes (see moekit/recipe.h), parsed with libyaml's document API.
 * Every node carries its position, so each error names the line at fault.
 */
#include "moekit/recipe.h"

#include <fnmatch.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "formats/yaml_doc.h"

#include "formats/fileio.h"
#include "formats/regex_guard.h"


static int compile_rule(ctx *c, mk_recipe_rule *rule, const yaml_node_t *n) {
    const char *pat = scalar(n);
    if (!pat || !*pat)
        return mk_fail(c->err, MK_ERR_INPUT, "%s:%d: a pattern must be a non-empty string", c->path,
                       line_of(n));
    rule->line = line_of(n);
    rule->pattern = strdup(pat);
    if (!rule->pattern) return mk_fail(c->err, MK_ERR_INTERNAL, "out of memory");
    if (strncmp(pat, "re:", 3) != 0) return MK_OK;
    const char *why;
    if (!mk_regex_safe(pat + 3, &why))
        return mk_fail(c->err, MK_ERR_INPUT, "%s:%d: regular expression refused: %s", c->path, rule->line, why);
    size_t len = strlen(pat + 3) + 5;
    char *anchored = malloc(len);
    regex_t *re = malloc(sizeof *re);
    if (!anchored || !re) {
        free(anchored);
        free(re);
        return mk_fail(c->err, MK_ERR_INTERNAL, "out of memory");
    }
    snprintf(anchored, len, "^(%s)$", pat + 3);
    int rc = regcomp(re, anchored, REG_EXTENDED | REG_NOSUB);
    free(anchored);
    if (rc) {
        char why[128];
        regerror(rc, re, why, sizeof why);
        free(re);
        return mk_fail(c->err, MK_ERR_INPUT, "%s:%d: bad regular expression '%s': %s", c->path,
                       rule->line, pat + 3, why);
    }
    rule->re = re;
    return MK_OK;
}

static int parse_scheme(ctx *c, const yaml_node_t *n, bool allow_keep, mk_recipe_rule *rule,
                        mk_scheme *out) {
    const char *s = scalar(n);
    if (s && allow_keep && strcmp(s, "keep") == 0) {
        rule->keep = true;
        return MK_OK;
    }
    if (!s || mk_scheme_parse(s, out) != 0 || (allow_keep && !mk_scheme_is_quant(*out)))
        return mk_fail(c->err, MK_ERR_INPUT,
                       "%s:%d: scheme '%s' is not one of fp8-block, fp8-tensor, fp8-channel, "
                       "int8-channel, int8-group%s",
                       c->path, line_of(n), s ? s : "(not a string)",
                       allow_keep ? ", keep" : ", bf16, f16");
    return MK_OK;
}

static int grow(mk_recipe_rule **v, size_t n, mk_error *err) {
    mk_recipe_rule *g = realloc(*v, (n + 1) * sizeof *g);
    if (!g) return mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    memset(&g[n], 0, sizeof *g);
    *v = g;
    return MK_OK;
}

static int parse_keep(ctx *c, mk_recipe *r, const yaml_node_t *seq) {
    if (seq->type != YAML_SEQUENCE_NODE)
        return mk_fail(c->err, MK_ERR_INPUT, "%s:%d: 'keep' must be a list of patterns", c->path,
                       line_of(seq));
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
        int rc = grow(&r->keep, r->n_keep, c->err);
        if (rc) return rc;
        mk_recipe_rule *rule = &r->keep[r->n_keep++];
        rule->keep = true;
        rc = compile_rule(c, rule, yaml_document_get_node(c->doc, *it));
        if (rc) return rc;
    }
    return MK_OK;
}

static int parse_overrides(ctx *c, mk_recipe *r, const yaml_node_t *seq) {
    if (seq->type != YAML_SEQUENCE_NODE)
        return mk_fail(c->err, MK_ERR_INPUT,
                       "%s:%d: 'overrides' must be a list of {match: PATTERN, scheme: S}", c->path,
                       line_of(seq));
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
        yaml_node_t *m = yaml_document_get_node(c->doc, *it);
        if (m->type != YAML_MAPPING_NODE)
            return mk_fail(c->err, MK_ERR_INPUT,
                           "%s:%d: each override is a mapping {match: PATTERN, scheme: S}", c->path,
                           line_of(m));
        int rc = grow(&r->overrides, r->n_overrides, c->err);
        if (rc) return rc;
        mk_recipe_rule *rule = &r->overrides[r->n_overrides++];
        const yaml_node_t *match = NULL, *scheme = NULL;
        for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
            yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
            const char *key = scalar(k);
            const yaml_node_t **slot = key && strcmp(key, "match") == 0    ? &match
                                       : key && strcmp(key, "scheme") == 0 ? &scheme
                                                                           : NULL;
            if (!slot)
                return mk_fail(c->err, MK_ERR_INPUT,
                               "%s:%d: unknown key '%s' in an override (expected match, scheme)",
                               c->path, line_of(k), key ? key : "?");
            if (*slot)
                return mk_fail(c->err, MK_ERR_INPUT, "%s:%d: duplicate key '%s'", c->path, line_of(k), key);
            *slot = v;
        }
        if (!match || !scheme)
            return mk_fail(c->err, MK_ERR_INPUT, "%s:%d: an override needs both 'match' and 'scheme'",
                           c->path, line_of(m));
        if ((rc = compile_rule(c, rule, match)) || (rc = parse_scheme(c, scheme, true, rule, &rule->scheme)))
            return rc;
    }
    return MK_OK;
}

int mk_recipe_parse(const char *text, size_t len, const char *path, mk_recipe *r, mk_error *err) {
    memset(r, 0, sizeof *r);
    r->path = strdup(path);
    r->text = malloc(len + 1);
    if (!r->path || !r->text) {
        mk_recipe_free(r);
        return mk_fail(err, MK_ERR_INTERNAL, "out of memory");
    }
    memcpy(r->text, text, len);
    r->text[len] = '\0';
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) return mk_fail(err, MK_ERR_INTERNAL, "yaml: out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        int rc = mk_fail(err, MK_ERR_INPUT, "%s:%zu: invalid YAML: %s", path,
                         parser.problem_mark.line + 1, parser.problem ? parser.problem : "?");
        yaml_parser_delete(&parser);
        mk_recipe_free(r);
        return rc;
    }
    yaml_parser_delete(&parser);
    ctx c = {.doc = &doc, .path = path, .err = err};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    int rc = MK_OK;
    if (!root || root->type != YAML_MAPPING_NODE) {
        rc = mk_fail(err, MK_ERR_INPUT, "%s:%d: a recipe is a mapping with scheme, keep, overrides",
                     path, root ? line_of(root) : 1);
        goto done;
    }
    bool seen[3] = {false, false, false};
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top && !rc; p++) {
        yaml_node_t *k = yaml_document_get_node(&doc, p->key);
        yaml_node_t *v = yaml_document_get_node(&doc, p->value);
        const char *key = scalar(k);
        int slot = !key ? -1 : strcmp(key, "scheme") == 0 ? 0 : strcmp(key, "keep") == 0 ? 1
                          : strcmp(key, "overrides") == 0 ? 2 : -1;
        if (slot < 0) {
            rc = mk_fail(err, MK_ERR_INPUT, "%s:%d: unknown key '%s' (expected scheme, keep, overrides)",
                         path, line_of(k), key ? key : "?");
            break;
        }
        if (seen[slot]) {
            rc = mk_fail(err, MK_ERR_INPUT, "%s:%d: duplicate key '%s'", path, line_of(k), key);
            break;
        }
        seen[slot] = true;
        if (slot == 0) {
            mk_recipe_rule dummy = {0};
            rc = parse_scheme(&c, v, false, &dummy, &r->scheme);
            r->has_scheme = true;
        } else if (slot == 1) {
            rc = parse_keep(&c, r, v);
        } else {
            rc = parse_overrides(&c, r, v);
        }
    }
done:
    yaml_document_delete(&doc);
    if (rc) mk_recipe_free(r); /* nothing half-built reaches the caller */
    return rc;
}

int mk_recipe_load(const char *path, mk_recipe *r, mk_error *err) {
    char *text;
    size_t len;
    memset(r, 0, sizeof *r);
    int rc = mk_read_file(path, 16u << 20, &text, &len, err);
    if (rc) return rc;
    rc = mk_recipe_parse(text, len, path, r, err);
    free(text);
    return rc;
}

static void free_rules(mk_recipe_rule *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(v[i].pattern);
        if (v[i].re) {
            regfree(v[i].re);
            free(v[i].re);
        }
    }
    free(v);
}

void mk_recipe_free(mk_recipe *r) {
    free_rules(r->keep, r->n_keep);
    free_rules(r->overrides, r->n_overrides);
    free(r->path);
    free(r->text);
    memset(r, 0, sizeof *r);
}

bool mk_recipe_rule_matches(const mk_recipe_rule *rule, const char *name) {
    if (rule->re) return regexec(rule->re, name, 0, NULL, 0) == 0;
    return fnmatch(rule->pattern, name, 0) == 0;
}

const mk_recipe_rule *mk_recipe_match(const mk_recipe *r, const char *name) {
    for (size_t i = 0; i < r->n_keep; i++)
        if (mk_recipe_rule_matches(&r->keep[i], name)) return &r->keep[i];
    for (size_t i = 0; i < r->n_overrides; i++)
        if (mk_recipe_rule_matches(&r->overrides[i], name)) return &r->overrides[i];
    return NULL;
}
