/*
 * formats/yaml_doc.h - what the libyaml document-API parsers (recipes, GPU
 * catalogs) share: the parse context and node helpers whose line numbers
 * reach every error message.
 */
#ifndef MK_FORMATS_YAML_DOC_H
#define MK_FORMATS_YAML_DOC_H

#include <yaml.h>

#include "moekit/error.h"

typedef struct ctx {
    yaml_document_t *doc;
    const char *path;
    mk_error *err;
} ctx;

/* 1-based line of a node, for "FILE:LINE: ..." messages. */
static inline int line_of(const yaml_node_t *n) { return (int)n->start_mark.line + 1; }

/* A scalar node's text, NULL for anything else. */
static inline const char *scalar(const yaml_node_t *n) {
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

#endif
