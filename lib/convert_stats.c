/*
 * --stats: reconstruction error of every quantized weight, summarised by
 * tensor class and by layer.  The sums are gathered during execution (the
 * codes are dequantized with the same kernels right after they are made);
 * this file only turns them into figures: RMSE, max |error|, SQNR.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/convert_impl.h"

static void finish(mk_error_stats *s) {
    s->rmse = s->elems ? sqrt(s->sum_sq_err / (double)s->elems) : 0.0;
    s->sqnr_db = s->sum_sq_err > 0 ? 10.0 * log10(s->sum_sq_src / s->sum_sq_err) : INFINITY;
}

static void add(mk_error_stats *s, const mk_stat_acc *a) {
    s->tensors++;
    s->elems += a->n;
    s->sum_sq_src += a->sig;
    s->sum_sq_err += a->err;
    if (a->max > s->max_abs_err) s->max_abs_err = a->max;
}

static int cmp_worst_first(const void *a, const void *b) {
    const mk_error_stats *x = a, *y = b;
    if (x->sqnr_db != y->sqnr_db) return x->sqnr_db < y->sqnr_db ? -1 : 1;
    return strcmp(x->label, y->label);
}

int mk_convert_stats_fill(const mk_plan *p, const mk_stat_acc *acc, mk_convert_result *res) {
    size_t n = 0;
    int max_layer = -1;
    for (size_t i = 0; i < p->n_items; i++)
        if (acc[i].n) {
            n++;
            if (p->items[i].role.layer > max_layer) max_layer = p->items[i].role.layer;
        }
    res->tensor_stats = calloc(n ? n : 1, sizeof *res->tensor_stats);
    res->class_stats = calloc(MK_T_KIND_COUNT, sizeof *res->class_stats);
    res->layer_stats = calloc((size_t)max_layer + 2, sizeof *res->layer_stats);
    if (!res->tensor_stats || !res->class_stats || !res->layer_stats) return -1;
    mk_error_stats *by_kind = calloc(MK_T_KIND_COUNT, sizeof *by_kind);
    mk_error_stats *by_layer = calloc((size_t)max_layer + 2, sizeof *by_layer);
    if (!by_kind || !by_layer) {
        free(by_kind);
        free(by_layer);
        return -1;
    }
    size_t k = 0;
    for (size_t i = 0; i < p->n_items; i++) {
        if (!acc[i].n) continue;
        const mk_plan_item *it = &p->items[i];
        mk_error_stats *t = &res->tensor_stats[k++];
        snprintf(t->label, sizeof t->label, "%s", it->src_name);
        t->scheme = mk_scheme_name(it->scheme);
        add(t, &acc[i]);
        finish(t);
        add(&by_kind[it->role.kind], &acc[i]);
        if (it->role.layer >= 0) add(&by_layer[it->role.layer], &acc[i]);
    }
    res->n_tensor_stats = k;
    qsort(res->tensor_stats, k, sizeof *res->tensor_stats, cmp_worst_first);
    for (int c = 0; c < MK_T_KIND_COUNT; c++) {
        if (!by_kind[c].tensors) continue;
        mk_error_stats *s = &res->class_stats[res->n_class_stats++];
        *s = by_kind[c];
        snprintf(s->label, sizeof s->label, "%s", mk_tensor_kind_name((mk_tensor_kind)c));
        finish(s);
    }
    for (int L = 0; L <= max_layer; L++) {
        if (!by_layer[L].tensors) continue;
        mk_error_stats *s = &res->layer_stats[res->n_layer_stats++];
        *s = by_layer[L];
        snprintf(s->label, sizeof s->label, "layer %d", L);
        finish(s);
    }
    free(by_kind);
    free(by_layer);
    return 0;
}
