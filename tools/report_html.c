/*
 * tools/report_html.c - `moekit validate --report FILE.html`: one
 * self-contained HTML page (inline CSS and inline SVG; no scripts, fonts,
 * images or links to anything outside the file) that shows at a glance how
 * far a quantized checkpoint drifts from its reference:
 *   - a header with both paths, the architecture, the token count and the
 *     summary figures, each coloured by a plain verdict;
 *   - a bar chart of the block-output SQNR per layer      (svg#sqnr-chart);
 *   - a bar chart of the router flip / top-1 change rates  (svg#flip-chart);
 *   - a heat strip of every routed expert's weight SQNR    (svg#expert-heat);
 *   - a table of every per-layer figure and each layer's 5 worst experts.
 * Verdict thresholds: SQNR >= 30 dB green, 20-30 amber, < 20 red; router flip
 * rate < 2% green, 2-10% amber, > 10% red.  Infinite SQNR (identical weights)
 * reads "exact" and its bar is capped at the top of the axis; NaN reads "n/a".
 * The page is built in memory and published atomically.
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/fileio.h"
#include "moekit/error.h"
#include "moekit/validate.h"

int cli_write_report_html(const char *path, const mk_validate_report *r, const char *ref,
                          const char *quant, mk_error *err);

/* ---- colours (also what tests/cli/report_test.sh looks for) ---- */
#define C_SQNR_BAR "#1f77b4"
#define C_FLIP_BAR "#d62728"
#define C_TOP1_BAR "#ff7f0e"

/* Verdict levels. */
enum { LV_NA = -1, LV_GOOD = 0, LV_WARN = 1, LV_BAD = 2 };
static const char *const lv_fg[] = {"#1b7a2e", "#a15c00", "#b71c1c"};
static const char *const lv_bg[] = {"#e3f4e6", "#fff1da", "#fde3e1"};
static const char *const lv_word[] = {"good", "check", "poor"};
#define NA_FG "#616161"
#define NA_BG "#eeeeee"

/* Expert heat palette: 5 dB bins from red (< 10 dB) to green (>= 50 dB)
 * (ColorBrewer RdYlGn), then exact and n/a. */
#define HEAT_BINS 10
static const char *const heat_col[HEAT_BINS] = {"#a50026", "#d73027", "#f46d43", "#fdae61",
                                                "#fee08b", "#d9ef8b", "#a6d96a", "#66bd63",
                                                "#1a9850", "#006837"};
static const char *const heat_label[HEAT_BINS] = {"<10", "10", "15", "20", "25",
                                                  "30", "35", "40", "45", "\xe2\x89\xa5" "50"};
#define HEAT_EXACT "#313695"
#define HEAT_NAN "#bdbdbd"

static int sqnr_level(double db) {
    if (isnan(db)) return LV_NA;
    if (db >= 30.0) return LV_GOOD;
    if (db >= 20.0) return LV_WARN;
    return LV_BAD;
}

static int flip_level(double rate) {
    if (isnan(rate)) return LV_NA;
    double pct = rate * 100.0;
    if (pct < 2.0) return LV_GOOD;
    if (pct <= 10.0) return LV_WARN;
    return LV_BAD;
}

static const char *heat_color(double db) {
    if (isnan(db)) return HEAT_NAN;
    if (isinf(db) && db > 0) return HEAT_EXACT;
    if (db < 10.0) return heat_col[0];
    int b = (int)floor(db / 5.0) - 1; /* 10..15 -> 1 */
    if (b >= HEAT_BINS) b = HEAT_BINS - 1;
    return heat_col[b];
}

/* "41.3 dB", "exact", "-inf dB", "n/a". */
static const char *fmt_db(char *buf, size_t cap, double db) {
    if (isnan(db)) snprintf(buf, cap, "n/a");
    else if (isinf(db)) snprintf(buf, cap, db > 0 ? "exact" : "-inf dB");
    else snprintf(buf, cap, "%.1f dB", db);
    return buf;
}

static const char *fmt_pct(char *buf, size_t cap, double share) {
    if (!isfinite(share)) snprintf(buf, cap, "n/a");
    else snprintf(buf, cap, "%.2f%%", share * 100.0);
    return buf;
}

static const char *fmt_num(char *buf, size_t cap, const char *f, double v) {
    if (isnan(v)) snprintf(buf, cap, "n/a");
    else if (isinf(v)) snprintf(buf, cap, v > 0 ? "inf" : "-inf");
    else snprintf(buf, cap, f, v);
    return buf;
}

/* Writes `s` HTML-escaped; invalid UTF-8 and control characters become
 * U+FFFD so that nothing in a path can break out of its element. */
static void esc(FILE *f, const char *s) {
    if (!s) {
        fputs("(unknown)", f);
        return;
    }
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        if (c < 0x80) {
            switch (c) {
            case '&': fputs("&amp;", f); break;
            case '<': fputs("&lt;", f); break;
            case '>': fputs("&gt;", f); break;
            case '"': fputs("&quot;", f); break;
            case '\'': fputs("&#39;", f); break;
            default:
                if (c < 0x20 || c == 0x7f) fputs("\xef\xbf\xbd", f);
                else fputc((int)c, f);
            }
            p++;
            continue;
        }
        /* a well-formed UTF-8 sequence (no overlongs, no surrogates) */
        int n = 0;
        unsigned cp = 0;
        if (c >= 0xc2 && c <= 0xdf) n = 1, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef) n = 2, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4) n = 3, cp = c & 0x07;
        bool okseq = n > 0;
        for (int i = 1; okseq && i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80) okseq = false;
            else cp = (cp << 6) | (p[i] & 0x3f);
        }
        if (okseq && ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
                      (n == 3 && (cp < 0x10000 || cp > 0x10ffff))))
            okseq = false;
        if (okseq && cp >= 0x80 && cp <= 0x9f) okseq = false; /* C1 controls */
        if (okseq) {
            fwrite(p, 1, (size_t)n + 1, f);
            p += n + 1;
        } else {
            fputs("\xef\xbf\xbd", f);
            p++;
        }
    }
}

/* A tick step giving at most ~`max_ticks` ticks over `range`. */
static double nice_step(double range, int max_ticks) {
    static const double m[] = {1, 2, 2.5, 5};
    for (double e = 0.01; e < 1e9; e *= 10)
        for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
            if (range / (m[i] * e) <= max_ticks) return m[i] * e;
    return range;
}

/* Every `k`-th of `n` x labels so that labels sit >= `min_px` apart. */
static int label_every(int n, double slot_px, double min_px) {
    if (n <= 0 || slot_px >= min_px) return 1;
    int k = (int)ceil(min_px / slot_px);
    static const int nice[] = {2, 4, 5, 8, 10, 16, 20, 25, 32, 50, 64, 100, 128, 250, 500};
    for (size_t i = 0; i < sizeof nice / sizeof nice[0]; i++)
        if (nice[i] >= k) return nice[i];
    return k;
}

/* ---- chart geometry ---- */
#define SVG_W 1160
#define ML 64   /* left margin: y labels */
#define MR 120  /* right margin: threshold labels / legend */
#define PLOT_W (SVG_W - ML - MR)

static void svg_open(FILE *f, const char *id, int h, const char *label) {
    fprintf(f,
            "<svg id=\"%s\" class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" "
            "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"%s\">\n",
            id, SVG_W, h, SVG_W, h, label);
}

/* Horizontal grid line + label for a y tick. */
static void y_tick(FILE *f, double y, const char *label) {
    fprintf(f,
            "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>"
            "<text x=\"%d\" y=\"%.1f\" class=\"yl\">%s</text>\n",
            ML, ML + PLOT_W, y, y, ML - 6, y + 4, label);
}

static void threshold(FILE *f, double y, const char *color, const char *label) {
    fprintf(f,
            "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"1.5\" "
            "stroke-dasharray=\"6 4\"/>"
            "<text x=\"%d\" y=\"%.1f\" fill=\"%s\" class=\"thr\">%s</text>\n",
            ML, ML + PLOT_W, y, y, color, ML + PLOT_W + 6, y + 4, color, label);
}

static void axes(FILE *f, int top, int bottom, const char *xtitle, const char *ytitle) {
    fprintf(f,
            "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" class=\"axis\"/>"
            "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" class=\"axis\"/>\n",
            ML, ML, top, bottom, ML, ML + PLOT_W, bottom, bottom);
    fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"xt\">%s</text>\n", ML + PLOT_W / 2, bottom + 36,
            xtitle);
    fprintf(f,
            "<text transform=\"translate(16,%d) rotate(-90)\" class=\"xt\">%s</text>\n",
            (top + bottom) / 2, ytitle);
}

/* ---- SQNR per layer ---- */
static void chart_sqnr(FILE *f, const mk_validate_report *r) {
    if (r->n_layers <= 0) {
        fputs("<p id=\"sqnr-chart\" class=\"empty\">No layers were validated.</p>\n", f);
        return;
    }
    double lo = INFINITY, hi = -INFINITY;
    bool any_exact = false, any_nan = false;
    for (int i = 0; i < r->n_layers; i++) {
        double v = r->layers[i].sqnr_db;
        if (isfinite(v)) {
            if (v < lo) lo = v;
            if (v > hi) hi = v;
        } else if (isnan(v)) {
            any_nan = true;
        } else if (v > 0) {
            any_exact = true;
        }
    }
    if (!isfinite(lo)) lo = 0, hi = 0;
    double ymax = hi > 40 ? hi : 40, ymin = lo < 0 ? lo : 0;
    double step = nice_step(ymax - ymin, 8);
    ymax = ceil(ymax / step - 1e-9) * step;
    if (any_exact && ymax - hi < step / 2) ymax += step; /* room above the highest finite bar */
    ymin = floor(ymin / step + 1e-9) * step;

    const int top = 28, ph = 260, bottom = top + ph, h = bottom + 48;
    svg_open(f, "sqnr-chart", h, "output SQNR per layer");
#define YS(v) (bottom - ((v) - ymin) / (ymax - ymin) * ph)
    char b[64];
    for (double t = ymin; t <= ymax + step / 1000; t += step) {
        snprintf(b, sizeof b, "%g", fabs(t) < step / 1000 ? 0.0 : t);
        y_tick(f, YS(t), b);
    }
    if (30 > ymin && 30 < ymax) threshold(f, YS(30), lv_fg[LV_GOOD], "30 dB good");
    if (20 > ymin && 20 < ymax) threshold(f, YS(20), lv_fg[LV_WARN], "20 dB poor below");

    int n = r->n_layers;
    double slot = (double)PLOT_W / n, bw = slot * 0.72;
    if (bw > 48) bw = 48;
    int every = label_every(n, slot, 26);
    double y0 = YS(ymin < 0 && ymax > 0 ? 0 : ymin);
    for (int i = 0; i < n; i++) {
        const mk_layer_report *L = &r->layers[i];
        double cx = ML + slot * (i + 0.5), v = L->sqnr_db;
        fmt_db(b, sizeof b, v);
        if (isnan(v)) {
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"na\">n/a<title>layer %d: n/a</title></text>\n",
                    cx, y0 - 4, L->layer);
        } else {
            double vv = isinf(v) ? (v > 0 ? ymax : ymin) : v;
            double y1 = YS(vv), ytop = y1 < y0 ? y1 : y0, hgt = fabs(y0 - y1);
            fprintf(f,
                    "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"" C_SQNR_BAR
                    "\"><title>layer %d (%s): %s</title></rect>\n",
                    cx - bw / 2, ytop, bw, hgt < 0.5 ? 0.5 : hgt, L->layer, L->moe ? "MoE" : "dense", b);
            if (isinf(v) && v > 0)
                fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"cap\">\xe2\x88\x9e</text>\n", cx, ytop - 4);
            else if (sqnr_level(v) == LV_BAD)
                fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"cap\" fill=\"%s\">\xe2\x96\xbc</text>\n",
                        cx, ytop - 4, lv_fg[LV_BAD]);
        }
        if (i % every == 0)
            fprintf(f, "<text x=\"%.1f\" y=\"%d\" class=\"xl\">%d</text>\n", cx, bottom + 16, L->layer);
    }
#undef YS
    axes(f, top, bottom, "layer", "output SQNR (dB)");
    fputs("</svg>\n", f);
    fputs("<p class=\"note\">Higher is better. Each bar is the SQNR of the layer's MLP/MoE block output "
          "(quantized vs reference weights, same tokens).", f);
    if (any_exact) fputs(" \xe2\x88\x9e = identical output (exact); its bar is capped at the top of the axis.", f);
    fputs(" \xe2\x96\xbc marks layers below 20 dB.", f);
    if (any_nan) fputs(" n/a = not a number (the measurement failed).", f);
    fputs("</p>\n", f);
}

/* ---- router flip / top-1 change per MoE layer ---- */
static void chart_flip(FILE *f, const mk_validate_report *r, int n_moe) {
    if (n_moe == 0) {
        fprintf(f, "<p id=\"flip-chart\" class=\"empty\">%s</p>\n",
                r->n_layers == 0 ? "No layers were validated."
                                 : "Dense model: no MoE layers, so no router to compare.");
        return;
    }
    double hi = 0;
    for (int i = 0; i < r->n_layers; i++) {
        const mk_layer_report *L = &r->layers[i];
        if (!L->moe) continue;
        if (isfinite(L->flip_rate) && L->flip_rate * 100 > hi) hi = L->flip_rate * 100;
        if (isfinite(L->top1_change_rate) && L->top1_change_rate * 100 > hi) hi = L->top1_change_rate * 100;
    }
    double ymax = hi > 12 ? hi : 12;
    double step = nice_step(ymax, 8);
    ymax = ceil(ymax / step - 1e-9) * step;
    if (ymax > 100) ymax = 100;

    const int top = 28, ph = 220, bottom = top + ph, h = bottom + 48;
    svg_open(f, "flip-chart", h, "router flip rate per MoE layer");
#define YS(v) (bottom - (v) / ymax * ph)
    char b[64], c[64];
    for (double t = 0; t <= ymax + step / 1000; t += step) {
        snprintf(b, sizeof b, "%g%%", t);
        y_tick(f, YS(t), b);
    }
    if (ymax > 10) threshold(f, YS(10), lv_fg[LV_BAD], "10% poor above");
    threshold(f, YS(2), lv_fg[LV_WARN], "2% check above");

    double slot = (double)PLOT_W / n_moe, bw = slot * 0.36;
    if (bw > 24) bw = 24;
    int every = label_every(n_moe, slot, 26), j = 0;
    for (int i = 0; i < r->n_layers; i++) {
        const mk_layer_report *L = &r->layers[i];
        if (!L->moe) continue;
        double cx = ML + slot * (j + 0.5);
        const double v[2] = {L->flip_rate * 100, L->top1_change_rate * 100};
        const char *col[2] = {C_FLIP_BAR, C_TOP1_BAR};
        const char *what[2] = {"top-k set changed", "top-1 expert changed"};
        for (int s = 0; s < 2; s++) {
            double x = s == 0 ? cx - bw : cx;
            if (!isfinite(v[s])) {
                fprintf(f, "<text x=\"%.1f\" y=\"%d\" class=\"na\">n/a</text>\n", x + bw / 2, bottom - 4);
                continue;
            }
            double vv = v[s] > ymax ? ymax : v[s] < 0 ? 0 : v[s];
            double hh = bottom - YS(vv);
            fprintf(f,
                    "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
                    "<title>layer %d: %s %s</title></rect>\n",
                    x, bottom - (hh < 0.5 ? 0.5 : hh), bw, hh < 0.5 ? 0.5 : hh, col[s], L->layer,
                    what[s], fmt_pct(c, sizeof c, v[s] / 100));
        }
        if (j % every == 0)
            fprintf(f, "<text x=\"%.1f\" y=\"%d\" class=\"xl\">%d</text>\n", cx, bottom + 16, L->layer);
        j++;
    }
#undef YS
    axes(f, top, bottom, "MoE layer", "tokens (%)");
    /* legend, top right inside the plot */
    int lx = ML + PLOT_W - 330;
    fprintf(f,
            "<rect x=\"%d\" y=\"4\" width=\"12\" height=\"12\" fill=\"" C_FLIP_BAR "\"/>"
            "<text x=\"%d\" y=\"14\" class=\"lg\">flip rate (top-k set changed)</text>"
            "<rect x=\"%d\" y=\"4\" width=\"12\" height=\"12\" fill=\"" C_TOP1_BAR "\"/>"
            "<text x=\"%d\" y=\"14\" class=\"lg\">top-1 expert changed</text>\n",
            lx, lx + 16, lx + 196, lx + 212);
    fputs("</svg>\n", f);
    fputs("<p class=\"note\">Lower is better: the share of tokens for which the quantized router picks a "
          "different set of experts (red) or a different best expert (orange).</p>\n", f);
}

/* ---- per-expert heat strip ---- */
static void chart_heat(FILE *f, const mk_validate_report *r) {
    int rows = 0, maxe = 0;
    for (int i = 0; i < r->n_layers; i++) {
        const mk_layer_report *L = &r->layers[i];
        if (!L->moe || L->n_experts <= 0 || !L->experts) continue;
        rows++;
        if (L->n_experts > maxe) maxe = L->n_experts;
    }
    if (rows == 0) {
        fprintf(f, "<p id=\"expert-heat\" class=\"empty\">%s</p>\n",
                r->n_layers == 0 ? "No layers were validated."
                                 : "No routed experts: nothing to show per expert.");
        return;
    }
    double cw = (double)PLOT_W / maxe;
    if (cw > 36) cw = 36;
    double rh = rows > 40 ? 12 : rows > 20 ? 16 : 22;
    double gap = cw >= 6 ? 1 : 0;
    const int top = 24;
    int bottom = top + (int)ceil(rows * rh);
    int legend_y = bottom + 44;
    int h = legend_y + 40;
    svg_open(f, "expert-heat", h, "weight SQNR per expert");
    char b[64];
    int every = label_every(maxe, cw, 22);
    for (int e = 0; e < maxe; e += every)
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" class=\"xl\">%d</text>\n", ML + cw * (e + 0.5), top - 6, e);
    int row = 0;
    for (int i = 0; i < r->n_layers; i++) {
        const mk_layer_report *L = &r->layers[i];
        if (!L->moe || L->n_experts <= 0 || !L->experts) continue;
        double y = top + row * rh;
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" class=\"yl\">L%d</text>\n", ML - 6, y + rh / 2 + 4, L->layer);
        int worst = -1;
        for (int e = 0; e < L->n_experts; e++) {
            const mk_expert_error *E = &L->experts[e];
            double v = E->sqnr_db;
            if (worst < 0) {
                worst = e;
            } else {
                double w = L->experts[worst].sqnr_db;
                if (!isnan(w) && (isnan(v) || v < w)) worst = e; /* NaN counts as worst */
            }
            fprintf(f,
                    "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" fill=\"%s\">"
                    "<title>layer %d expert %d: %s</title></rect>\n",
                    ML + cw * e, y, cw - gap, rh - 1, heat_color(v), L->layer, E->expert,
                    fmt_db(b, sizeof b, v));
        }
        /* outline the bad cells (< 20 dB or NaN) so they stand out even when narrow */
        for (int e = 0; e < L->n_experts; e++) {
            int lv = sqnr_level(L->experts[e].sqnr_db);
            if (lv == LV_BAD || lv == LV_NA)
                fprintf(f,
                        "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" fill=\"none\" "
                        "stroke=\"#111\" stroke-width=\"1.5\"/>\n",
                        ML + cw * e - 1, y - 1, (cw - gap) + 2, rh + 1);
        }
        if (worst >= 0) {
            int lv = sqnr_level(L->experts[worst].sqnr_db);
            fprintf(f, "<text x=\"%d\" y=\"%.1f\" class=\"rl\" style=\"fill:%s\">min %s (e%d)</text>\n",
                    ML + (int)ceil(cw * maxe) + 8, y + rh / 2 + 4, lv == LV_NA ? NA_FG : lv_fg[lv],
                    fmt_db(b, sizeof b, L->experts[worst].sqnr_db), L->experts[worst].expert);
        }
        row++;
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"xt\">expert</text>\n",
            ML + (int)(cw * maxe / 2), bottom + 22);
    /* legend: discrete swatches */
    fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"lg\">weight SQNR (dB):</text>\n", ML, legend_y + 14);
    int sx = ML + 124, sw = 44;
    for (int k = 0; k < HEAT_BINS; k++)
        fprintf(f,
                "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"16\" fill=\"%s\"/>"
                "<text x=\"%d\" y=\"%d\" class=\"xl\">%s</text>\n",
                sx + k * sw, legend_y, sw, heat_col[k], sx + k * sw + sw / 2, legend_y + 30,
                heat_label[k]);
    int ex = sx + HEAT_BINS * sw + 20;
    fprintf(f,
            "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"16\" fill=\"" HEAT_EXACT "\"/>"
            "<text x=\"%d\" y=\"%d\" class=\"xl\">exact</text>"
            "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"16\" fill=\"" HEAT_NAN "\"/>"
            "<text x=\"%d\" y=\"%d\" class=\"xl\">n/a</text>\n",
            ex, legend_y, sw, ex + sw / 2, legend_y + 30, ex + sw + 8, legend_y, sw,
            ex + sw + 8 + sw / 2, legend_y + 30);
    fputs("</svg>\n", f);
    fputs("<p class=\"note\">One row per MoE layer, one cell per routed expert (gate, up and down "
          "weights together). Red, outlined cells are experts below 20 dB; hover a cell for its "
          "figure.</p>\n", f);
}

/* ---- table ---- */
static int cmp_expert(const void *a, const void *b) {
    double x = ((const mk_expert_error *)a)->sqnr_db, y = ((const mk_expert_error *)b)->sqnr_db;
    if (isnan(x) || isnan(y)) return isnan(y) - isnan(x); /* NaN first */
    return (x > y) - (x < y);
}

static void td_level(FILE *f, int lv, const char *text) {
    if (lv == LV_NA) fprintf(f, "<td class=\"num\">%s</td>", text);
    else fprintf(f, "<td class=\"num\" style=\"background:%s;color:%s\">%s</td>", lv_bg[lv], lv_fg[lv], text);
}

static int table(FILE *f, const mk_validate_report *r) {
    if (r->n_layers <= 0) {
        fputs("<p class=\"empty\">No layers were validated.</p>\n", f);
        return 0;
    }
    fputs("<table>\n<thead><tr><th>layer</th><th>block</th><th>output SQNR</th><th>cosine</th>"
          "<th>rel. L2</th><th>max |err|</th><th>flip rate</th><th>top-1 change</th>"
          "<th>mean overlap</th><th>mean&nbsp;|&Delta;w|</th><th>worst 5 experts (weight SQNR)</th>"
          "</tr></thead>\n<tbody>\n", f);
    char b[64];
    for (int i = 0; i < r->n_layers; i++) {
        const mk_layer_report *L = &r->layers[i];
        fprintf(f, "<tr><td class=\"num\">%d</td><td>%s</td>", L->layer, L->moe ? "MoE" : "dense");
        td_level(f, sqnr_level(L->sqnr_db), fmt_db(b, sizeof b, L->sqnr_db));
        fprintf(f, "<td class=\"num\">%s</td>", fmt_num(b, sizeof b, "%.6f", L->cosine));
        fprintf(f, "<td class=\"num\">%s</td>", fmt_num(b, sizeof b, "%.3e", L->rel_l2));
        fprintf(f, "<td class=\"num\">%s</td>", fmt_num(b, sizeof b, "%.3e", L->max_abs));
        if (L->moe) {
            td_level(f, flip_level(L->flip_rate), fmt_pct(b, sizeof b, L->flip_rate));
            fprintf(f, "<td class=\"num\">%s</td>", fmt_pct(b, sizeof b, L->top1_change_rate));
            fprintf(f, "<td class=\"num\">%s</td>", fmt_num(b, sizeof b, "%.4f", L->mean_overlap));
            fprintf(f, "<td class=\"num\">%s</td>", fmt_num(b, sizeof b, "%.3e", L->mean_abs_dweight));
        } else {
            fputs("<td class=\"dash\">&mdash;</td><td class=\"dash\">&mdash;</td>"
                  "<td class=\"dash\">&mdash;</td><td class=\"dash\">&mdash;</td>", f);
        }
        fputs("<td>", f);
        if (L->n_experts > 0 && L->experts) {
            mk_expert_error *s = malloc((size_t)L->n_experts * sizeof *s);
            if (!s) return -1;
            memcpy(s, L->experts, (size_t)L->n_experts * sizeof *s);
            qsort(s, (size_t)L->n_experts, sizeof *s, cmp_expert);
            int k = L->n_experts < 5 ? L->n_experts : 5;
            for (int e = 0; e < k; e++) {
                int lv = sqnr_level(s[e].sqnr_db);
                fprintf(f, "<span class=\"ex\" style=\"color:%s\">e%d&nbsp;%s</span>", lv == LV_NA ? NA_FG : lv_fg[lv],
                        s[e].expert, fmt_db(b, sizeof b, s[e].sqnr_db));
            }
            free(s);
        } else {
            fputs("<span class=\"dash\">&mdash;</span>", f);
        }
        fputs("</td></tr>\n", f);
    }
    fputs("</tbody>\n</table>\n", f);
    return 0;
}

/* ---- header ---- */
static void card(FILE *f, const char *title, const char *value, int lv, const char *sub) {
    fprintf(f, "<div class=\"card\" style=\"background:%s;border-color:%s\">"
               "<div class=\"ct\">%s</div><div class=\"cv\" style=\"color:%s\">%s</div>"
               "<div class=\"cs\">%s</div></div>\n",
            lv == LV_NA ? NA_BG : lv_bg[lv], lv == LV_NA ? NA_FG : lv_fg[lv], title,
            lv == LV_NA ? NA_FG : lv_fg[lv], value, sub);
}

static const char CSS[] =
    "body{margin:0;background:#f6f7f9;color:#1d2330;font:14px/1.45 system-ui,-apple-system,"
    "'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif}"
    "main{max-width:1200px;margin:0 auto;padding:20px 20px 40px}"
    "h1{font-size:22px;margin:0 0 6px}h2{font-size:17px;margin:28px 0 8px}"
    ".meta{display:grid;grid-template-columns:auto 1fr;gap:2px 12px;margin:8px 0 14px}"
    ".meta dt{color:#5a6270}.meta dd{margin:0;font-family:ui-monospace,Menlo,Consolas,monospace;"
    "word-break:break-all}"
    ".verdict{display:inline-block;padding:6px 14px;border-radius:6px;font-weight:600;"
    "font-size:15px;margin:4px 0 12px;border:2px solid}"
    ".cards{display:flex;gap:12px;flex-wrap:wrap}"
    ".card{flex:1 1 200px;border:2px solid;border-radius:8px;padding:10px 14px}"
    ".ct{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:#4a5260}"
    ".cv{font-size:26px;font-weight:700;margin:2px 0}.cs{font-size:12px;color:#4a5260}"
    "section{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:12px 16px;"
    "margin-top:18px}section h2{margin-top:4px}"
    "svg.chart{display:block;max-width:100%;height:auto}"
    "svg text{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;fill:#333}"
    ".grid{stroke:#e3e6ea;stroke-width:1}.axis{stroke:#555;stroke-width:1}"
    ".yl{font-size:11px;text-anchor:end}.xl{font-size:11px;text-anchor:middle}"
    ".xt{font-size:12px;text-anchor:middle;fill:#444}.thr{font-size:11px}"
    ".lg{font-size:12px}.rl{font-size:11px;fill:#444}.cap{font-size:13px;text-anchor:middle}"
    ".na{font-size:10px;text-anchor:middle;fill:#888}"
    ".note{color:#5a6270;font-size:12.5px;margin:6px 0 0}.empty{color:#5a6270;font-style:italic}"
    "table{border-collapse:collapse;width:100%;font-size:12.5px}"
    "th,td{border-bottom:1px solid #e3e6ea;padding:4px 8px;text-align:left;vertical-align:top}"
    "th{background:#f0f2f5;font-weight:600;white-space:nowrap}"
    "td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
    "td.dash,.dash{color:#aaa;text-align:center}"
    ".ex{display:inline-block;margin-right:10px;white-space:nowrap;font-variant-numeric:tabular-nums}"
    "footer{margin-top:24px;color:#8a919c;font-size:12px}";

int cli_write_report_html(const char *path, const mk_validate_report *r, const char *ref,
                          const char *quant, mk_error *err) {
    if (!path || !r) return mk_fail(err, MK_ERR_INTERNAL, "report: no output path or report");
    if (r->n_layers < 0 || (r->n_layers > 0 && !r->layers))
        return mk_fail(err, MK_ERR_INTERNAL, "%s: report has no layer data", path);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return mk_fail(err, MK_ERR_INTERNAL, "%s: cannot build the report in memory", path);

    int n_moe = 0, worst = -1;
    for (int i = 0; i < r->n_layers; i++) {
        if (r->layers[i].moe) n_moe++;
        double v = r->layers[i].sqnr_db;
        if (!isnan(v) && (worst < 0 || v < r->layers[worst].sqnr_db)) worst = i;
    }
    bool have = r->n_layers > 0;
    int lv_s = have ? sqnr_level(r->min_sqnr_db) : LV_NA;
    int lv_f = n_moe > 0 ? flip_level(r->flip_rate) : LV_NA;
    int lv = lv_s > lv_f ? lv_s : lv_f;

    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
          "<title>moekit validate: ", f);
    esc(f, quant);
    fputs("</title>\n<style>", f);
    fputs(CSS, f);
    fputs("</style>\n</head>\n<body>\n<main>\n<h1>Quantization drift report</h1>\n<dl class=\"meta\">", f);
    fputs("<dt>reference</dt><dd>", f);
    esc(f, ref);
    fputs("</dd><dt>quantized</dt><dd>", f);
    esc(f, quant);
    fputs("</dd><dt>architecture</dt><dd>", f);
    esc(f, r->architecture[0] ? r->architecture : "unknown");
    fprintf(f, "</dd><dt>tokens</dt><dd>%d</dd><dt>layers</dt><dd>%d (%d MoE, %d dense)</dd></dl>\n",
            r->tokens, r->n_layers, n_moe, r->n_layers - n_moe);

    /* verdict line */
    char b1[64], b2[64];
    if (!have) {
        fprintf(f, "<div class=\"verdict\" style=\"background:%s;color:%s;border-color:%s\">"
                   "No layers were validated</div>\n", NA_BG, NA_FG, NA_FG);
    } else {
        fprintf(f, "<div class=\"verdict\" style=\"background:%s;color:%s;border-color:%s\">Verdict: %s",
                lv == LV_NA ? NA_BG : lv_bg[lv], lv == LV_NA ? NA_FG : lv_fg[lv],
                lv == LV_NA ? NA_FG : lv_fg[lv], lv == LV_NA ? "unknown" : lv_word[lv]);
        if (worst >= 0)
            fprintf(f, " &mdash; worst layer %d at %s", r->layers[worst].layer,
                    fmt_db(b1, sizeof b1, r->layers[worst].sqnr_db));
        if (n_moe > 0) fprintf(f, "; router flips %s of tokens", fmt_pct(b2, sizeof b2, r->flip_rate));
        else fputs("; dense model, no router", f);
        fputs("</div>\n", f);
    }

    fputs("<div class=\"cards\">\n", f);
    card(f, "min output SQNR", have ? fmt_db(b1, sizeof b1, r->min_sqnr_db) : "n/a", lv_s,
         "&ge; 30 dB good &middot; 20&ndash;30 check &middot; &lt; 20 poor");
    card(f, "mean output SQNR", have ? fmt_db(b1, sizeof b1, r->mean_sqnr_db) : "n/a",
         have ? sqnr_level(r->mean_sqnr_db) : LV_NA, "over all validated layers");
    const char *no_router = have ? "dense model: no router" : "no layers validated";
    card(f, "router flip rate", n_moe ? fmt_pct(b1, sizeof b1, r->flip_rate) : "n/a", lv_f,
         n_moe ? "&lt; 2% good &middot; 2&ndash;10% check &middot; &gt; 10% poor" : no_router);
    card(f, "mean top-k overlap", n_moe ? fmt_num(b1, sizeof b1, "%.4f", r->mean_overlap) : "n/a",
         LV_NA, n_moe ? "1 = same experts chosen for every token" : no_router);
    fputs("</div>\n", f);

    fputs("<section><h2>Output SQNR per layer</h2>\n", f);
    chart_sqnr(f, r);
    fputs("</section>\n<section><h2>Router: tokens routed differently, per MoE layer</h2>\n", f);
    chart_flip(f, r, n_moe);
    fputs("</section>\n<section><h2>Weight SQNR per expert</h2>\n", f);
    chart_heat(f, r);
    fputs("</section>\n<section><h2>All figures</h2>\n", f);
    int rc = table(f, r);
    fputs("</section>\n<footer>Generated by <code>moekit validate</code>. SQNR = 10 log10(&Sigma;x&sup2; / "
          "&Sigma;(x &minus; x&#x2032;)&sup2;); definitions in docs/validation.md.</footer>\n"
          "</main>\n</body>\n</html>\n", f);
    bool bad = ferror(f) != 0;
    if (fclose(f) != 0) bad = true;
    if (rc != 0 || bad || !buf) {
        free(buf);
        return mk_fail(err, MK_ERR_INTERNAL, "%s: out of memory while building the report", path);
    }
    rc = mk_write_file_atomic(path, buf, len, err);
    free(buf);
    return rc;
}
