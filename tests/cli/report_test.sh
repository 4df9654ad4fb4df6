#!/usr/bin/env bash
# End-to-end test of `moekit validate --report`: the HTML page is
# self-contained and, rendered by headless Chromium, actually draws its charts.
#   report_test.sh MOEKIT_UNDER_TEST
# Installs Chromium with apt-get when it is missing (sudo when not root).
# Prints one line per test and ends with "N passed, N failed".
set -u
MK=$(realpath "$1")
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
finish() { echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit $?; }

# run NAME EXPECTED_EXIT CMD...: runs CMD, keeps stdout/stderr in $tmp/out, $tmp/err.
run() {
    local name=$1 want=$2; shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    if [ "$rc" -ne "$want" ]; then
        bad "$name" "exit $rc, expected $want; stderr: $(head -c 600 "$tmp/err")"
        return 1
    fi
    return 0
}

# --- headless Chromium ---
CHROME=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROME" ]; then
    SUDO=
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null; then SUDO="sudo -n"; else
            bad chromium_install "chromium is not on PATH, we are not root and there is no sudo"
            finish
        fi
    fi
    export DEBIAN_FRONTEND=noninteractive
    if ! $SUDO apt-get install -y -q chromium >"$tmp/apt.log" 2>&1; then
        # stale package lists are the usual cause: refresh once and retry
        $SUDO apt-get update -q >>"$tmp/apt.log" 2>&1
        $SUDO apt-get install -y -q chromium >>"$tmp/apt.log" 2>&1
    fi
    CHROME=$(command -v chromium || true)
    if [ -z "$CHROME" ]; then
        bad chromium_install "chromium is not on PATH and 'apt-get install -y -q chromium' failed: $(tail -n 3 "$tmp/apt.log" | tr '\n' ' ' | head -c 500)"
        finish
    fi
    ok chromium_install
else
    ok chromium_present
fi

# --- build a report: a reference with a path that needs escaping ---
REF="$tmp/ref&<b>\"q\""
Q="$tmp/quant"
R="$tmp/R.html"
run synth 0 "$MK" synth "$REF" --arch deepseek-v3 || finish
run convert 0 "$MK" convert "$REF" "$Q" --scheme int8-channel || finish
run validate_report 0 "$MK" validate "$REF" "$Q" --tokens 64 --report "$R" || finish
if [ -s "$R" ]; then ok report_written; else bad report_written "$R is missing or empty"; finish; fi
leftover=$(find "$tmp" -maxdepth 1 -name '.*tmp*' | head -n 3)
[ -z "$leftover" ] && ok report_no_temp_left || bad report_no_temp_left "$leftover"

# --- self-contained: no scripts, nothing fetched from elsewhere ---
if grep -qi '<script' "$R"; then bad html_no_script "$(grep -oi '<script[^>]*>' "$R" | head -n 1)"; else ok html_no_script; fi
ext=$(grep -oiE "(src|href|xlink:href)[[:space:]]*=[[:space:]]*[\"']?[[:space:]]*(https?:|//)[^\"' >]*" "$R" | head -n 3)
[ -z "$ext" ] && ok html_no_external_src || bad html_no_external_src "$ext"
ext=$(grep -oiE "(@import|url\\([[:space:]]*[\"']?[[:space:]]*(https?:|//)|<link|<img|<iframe|<object|<embed)" "$R" | head -n 3)
[ -z "$ext" ] && ok html_no_external_css || bad html_no_external_css "$ext"
for id in sqnr-chart flip-chart expert-heat; do
    grep -q "<svg id=\"$id\"" "$R" && ok "html_has_$id" || bad "html_has_$id" "no <svg id=\"$id\">"
done
grep -qE '<title>layer [0-9]+ expert [0-9]+: [^<]*</title>' "$R" && ok html_expert_tooltips || bad html_expert_tooltips "no 'layer L expert E: X dB' title"
# the reference path appears escaped, never raw
if grep -qF 'ref&amp;&lt;b&gt;&quot;q&quot;' "$R" && ! grep -qF 'ref&<b>' "$R"; then ok html_escapes_paths
else bad html_escapes_paths "$(grep -o 'ref&[^/]*' "$R" | head -n 2 | tr '\n' ' ')"; fi

# --- a dense-only selection says there is no router ---
if run validate_dense_only 0 "$MK" validate "$REF" "$Q" --tokens 16 --layers 0 --report "$tmp/D.html"; then
    grep -q 'id="flip-chart"' "$tmp/D.html" && grep -qi 'no MoE layers' "$tmp/D.html" && ! grep -q '<svg id="flip-chart"' "$tmp/D.html" &&
        ok report_dense_no_router || bad report_dense_no_router "no 'no MoE layers' note in place of the router chart"
fi
# an output folder that does not exist: an error, no file
"$MK" validate "$REF" "$Q" --tokens 16 --report "$tmp/no/such/dir/R.html" >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ "$rc" -eq 0 ]; then bad report_bad_path "exit 0 writing into a missing folder"
elif [ "$(wc -l <"$tmp/err")" -ne 1 ] || ! grep -q 'R.html' "$tmp/err"; then bad report_bad_path "exit $rc, stderr not one line naming the file: $(head -c 400 "$tmp/err")"
else ok report_bad_path; fi

# --- render it and look at the pixels ---
PNG="$tmp/R.png"
render() {
    timeout 180 "$CHROME" "$1" --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
        --user-data-dir="$tmp/chrome-profile" --window-size=1400,2400 --screenshot="$PNG" \
        "file://$R" >"$tmp/chrome.log" 2>&1 && [ -s "$PNG" ]
}
if render --headless=new || render --headless; then ok chromium_screenshot
else bad chromium_screenshot "no PNG: $(tail -n 3 "$tmp/chrome.log" | tr '\n' ' ' | head -c 500)"; finish; fi

if python3 - "$PNG" "$R" >"$tmp/pix" 2>&1 <<'PY'
import collections, re, struct, sys, zlib

def decode_png(path):
    """8-bit RGB/RGBA, non-interlaced PNG -> (width, height, bytes per pixel, pixels)."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, hdr = 8, [], None
    while pos + 8 <= len(data):
        n, typ = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if typ == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif typ == b"IDAT":
            idat.append(body)
        elif typ == b"IEND":
            break
    w, h, depth, ctype, _, _, interlace = hdr
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise ValueError("unsupported PNG: depth %d colour type %d interlace %d" % (depth, ctype, interlace))
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = w * bpp
    out = bytearray(h * stride)
    prev = bytearray(stride)
    i = 0
    for y in range(h):
        ft = raw[i]
        line = bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        if ft == 1:    # Sub
            for x in range(bpp, stride):
                line[x] = (line[x] + line[x - bpp]) & 255
        elif ft == 2:  # Up
            for x in range(stride):
                line[x] = (line[x] + prev[x]) & 255
        elif ft == 3:  # Average
            for x in range(stride):
                a = line[x - bpp] if x >= bpp else 0
                line[x] = (line[x] + ((a + prev[x]) >> 1)) & 255
        elif ft == 4:  # Paeth
            for x in range(stride):
                a = line[x - bpp] if x >= bpp else 0
                b = prev[x]
                c = prev[x - bpp] if x >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        elif ft != 0:
            raise ValueError("bad filter type %d in row %d" % (ft, y))
        out[y * stride:(y + 1) * stride] = line
        prev = line
    return w, h, bpp, out

png, html = sys.argv[1], open(sys.argv[2], encoding="utf-8").read()
w, h, bpp, px = decode_png(png)
hist = collections.Counter(bytes(px[i:i + 3]) for i in range(0, len(px), bpp))

def rgb(hexcol):
    return bytes.fromhex(hexcol.lstrip("#"))

def count(hexcol, tol=2):
    t = rgb(hexcol)
    return sum(n for c, n in hist.items() if all(abs(c[k] - t[k]) <= tol for k in range(3)))

fails = []
def need(name, got, want):
    print("%-28s %7d px (need >= %d)" % (name, got, want))
    if got < want:
        fails.append(name)

need("sqnr_bars #1f77b4", count("#1f77b4"), 300)
need("flip_bars #d62728", count("#d62728"), 300)
heat = ["#a50026", "#d73027", "#f46d43", "#fdae61", "#fee08b", "#d9ef8b",
        "#a6d96a", "#66bd63", "#1a9850", "#006837", "#313695"]
seen = [c for c in heat if count(c) >= 300]
print("heat colours >= 300 px: %d (%s)" % (len(seen), " ".join(seen)))
if len(seen) < 3:
    fails.append("heat_colours")
# the cells themselves, not just the legend (one swatch: 44 x 16 px)
cells = collections.Counter(m.group(1).lower() for m in re.finditer(
    r'fill="(#[0-9a-fA-F]{6})"><title>layer \d+ expert \d+:', html))
if not cells:
    fails.append("heat_cells_in_html")
else:
    col, n = cells.most_common(1)[0]
    need("heat_cells %s x%d" % (col, n), count(col), 44 * 16 + 20 * n)
print("image %dx%d, %d colours" % (w, h, len(hist)))
sys.exit(1 if fails else 0)
PY
then ok png_charts_drawn; else bad png_charts_drawn "$(tr '\n' ';' <"$tmp/pix" | head -c 900)"; fi

finish
