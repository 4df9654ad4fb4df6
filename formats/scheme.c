/* Scheme names as the command line and recipes spell them. */
#include "moekit/scheme.h"

#include <string.h>

static const char *const k_scheme_names[MK_SCHEME_COUNT] = {
    "fp8-block", "fp8-tensor", "fp8-channel", "int8-channel", "int8-group", "bf16", "f16",
};

const char *mk_scheme_name(mk_scheme s) {
    return (unsigned)s < MK_SCHEME_COUNT ? k_scheme_names[s] : "?";
}

int mk_scheme_parse(const char *s, mk_scheme *out) {
    for (int i = 0; i < MK_SCHEME_COUNT; i++)
        if (strcmp(s, k_scheme_names[i]) == 0) {
            *out = (mk_scheme)i;
            return 0;
        }
    return -1;
}
