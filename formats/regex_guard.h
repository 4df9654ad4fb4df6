/*
 * formats/regex_guard.h - a pre-check for regular expressions that come
 * from files (recipes, config.json targets and ignore lists).
 *
 * glibc's regcomp duplicates the parse tree for each quantifier applied to a
 * quantified expression, so a pattern such as "a++++++++++++++" takes
 * exponential memory (found by fuzzing), and so do nested counted repeats
 * such as "((a{255}){255}){255}".  We refuse what no real pattern needs:
 * more than 512 characters, a quantifier directly after another, repeat
 * counts above 255, and a product of repeat factors (2 for * + ?, n+1 for
 * {n,m}) above 4096 - a bound on how many times the tree can be copied.
 */
#ifndef MK_FORMATS_REGEX_GUARD_H
#define MK_FORMATS_REGEX_GUARD_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static inline bool mk_regex_safe(const char *pat, const char **why) {
    size_t n = strlen(pat);
    if (n > 512) {
        *why = "longer than 512 characters";
        return false;
    }
    double product = 1;
    bool prev_quant = false;
    for (size_t i = 0; i < n; i++) {
        char c = pat[i];
        if (c == '\\') { /* an escaped character is a literal */
            i++;
            prev_quant = false;
            continue;
        }
        bool q = c == '*' || c == '+' || c == '?' || c == '{';
        if (q) {
            if (prev_quant) {
                *why = "a quantifier follows a quantifier";
                return false;
            }
            double factor = 2;
            if (c == '{') {
                char *end;
                long a = strtol(pat + i + 1, &end, 10);
                long b = a;
                if (*end == ',') b = end[1] == '}' ? a : strtol(end + 1, &end, 10);
                if (a > 255 || b > 255 || a < 0 || b < 0) {
                    *why = "a repetition count above 255";
                    return false;
                }
                factor = (double)(a > b ? a : b) + 1;
                const char *close = strchr(pat + i, '}');
                if (close) i = (size_t)(close - pat);
            }
            product *= factor;
            if (product > 4096) {
                *why = "too many or too nested repeats";
                return false;
            }
        }
        prev_quant = q;
    }
    return true;
}

#endif
