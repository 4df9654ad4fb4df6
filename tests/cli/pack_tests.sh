#!/usr/bin/env bash
# `moekit pack` / `unpack`: byte-identical round trips of every dtype and odd
# sizes, selective extraction, archives as input, damage detected.
#   pack_tests.sh MOEKIT     -> "N passed, N failed"
set -u
MK=$(realpath "$1")
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
roundtrip() { # roundtrip NAME DIR [pack options]
    local name=$1 dir=$2; shift 2
    rm -rf "$tmp/u-$name" "$tmp/$name.mkp"
    if "$MK" pack "$dir" "$tmp/$name.mkp" "$@" >/dev/null 2>"$tmp/e" && "$MK" unpack "$tmp/$name.mkp" "$tmp/u-$name" >/dev/null 2>>"$tmp/e"; then
        diff -r "$dir" "$tmp/u-$name" >/dev/null && ok "roundtrip_$name" || bad "roundtrip_$name" "files differ"
    else bad "roundtrip_$name" "$(cat "$tmp/e")"; fi
}
"$MK" synth "$tmp/bf16" --arch deepseek-v3 >/dev/null
printf 'x' >"$tmp/bf16/odd.txt"; : >"$tmp/bf16/empty.txt"
head -c 5000001 /dev/urandom >"$tmp/bf16/random.bin"   # > 1 chunk, odd size
roundtrip bf16 "$tmp/bf16"
"$MK" synth "$tmp/f16" --arch mixtral --dtype f16 --shards 1 >/dev/null && roundtrip f16 "$tmp/f16"
"$MK" synth "$tmp/f32" --arch qwen3-moe --dtype f32 --hidden 320 --moe-inter 100 --vocab 77 >/dev/null && roundtrip f32_odd_shapes "$tmp/f32"
for s in fp8-block int8-channel int8-group; do
    "$MK" convert "$tmp/bf16" "$tmp/$s" --scheme "$s" >/dev/null 2>&1 && roundtrip "$s" "$tmp/$s"
done
"$MK" synth "$tmp/big" --arch qwen2-moe --hidden 1024 --moe-inter 1024 --experts 8 --shards 2 >/dev/null   # tensors over several 4 MiB chunks
roundtrip multi_chunk "$tmp/big" --level 5 --threads 1
# ratio sanity on synthetic weights (the benchmark measures against zstd)
python3 - "$tmp/big" "$tmp/multi_chunk.mkp" <<'PY' && ok pack_ratio_bf16 || bad pack_ratio_bf16 "ratio too low"
import os, sys
raw = sum(os.path.getsize(os.path.join(sys.argv[1], f)) for f in os.listdir(sys.argv[1]))
r = raw / os.path.getsize(sys.argv[2])
print(f"  bf16 ratio {r:.3f}", file=sys.stderr)
assert r > 1.40, r
PY
# selective extraction
if "$MK" unpack "$tmp/fp8-block.mkp" "$tmp/only" --only 'model-expert-00003-*' >/dev/null 2>"$tmp/e"; then
    [ "$(ls "$tmp/only")" = "model-expert-00003-of-00008.safetensors" ] && cmp -s "$tmp/only/model-expert-00003-of-00008.safetensors" "$tmp/fp8-block/model-expert-00003-of-00008.safetensors" &&
        ok unpack_only_one_expert || bad unpack_only_one_expert "$(ls "$tmp/only")"
else bad unpack_only_one_expert "$(cat "$tmp/e")"; fi
"$MK" unpack "$tmp/fp8-block.mkp" "$tmp/none" --only 'nothing*' >/dev/null 2>"$tmp/e"; [ $? -eq 2 ] && grep -q "no file matches" "$tmp/e" && ok unpack_only_no_match || bad unpack_only_no_match "$(cat "$tmp/e")"
# archives as input to inspect / verify / convert
"$MK" inspect "$tmp/bf16.mkp" | grep -q "findings      none" && ok inspect_archive || bad inspect_archive "inspect failed"
"$MK" verify "$tmp/fp8-block.mkp" >/dev/null 2>"$tmp/e" && ok verify_archive || bad verify_archive "$(cat "$tmp/e")"
"$MK" convert "$tmp/bf16.mkp" "$tmp/from-archive" >/dev/null 2>&1 && diff -r "$tmp/from-archive" "$tmp/fp8-block" >/dev/null && ok convert_from_archive_equals_folder || bad convert_from_archive_equals_folder "differs"
ls "${TMPDIR:-/tmp}" | grep -q "^moekit-unpack-" && bad temp_unpack_removed "left $(ls "${TMPDIR:-/tmp}" | grep moekit-unpack)" || ok temp_unpack_removed
# refusals
"$MK" pack "$tmp/bf16" "$tmp/bf16.mkp" >/dev/null 2>"$tmp/e"; [ $? -eq 2 ] && grep -q -- "--force" "$tmp/e" && ok pack_refuses_existing || bad pack_refuses_existing "$(cat "$tmp/e")"
"$MK" unpack "$tmp/bf16.mkp" "$tmp/u-bf16" >/dev/null 2>"$tmp/e"; [ $? -eq 2 ] && grep -q "exists" "$tmp/e" && ok unpack_refuses_existing || bad unpack_refuses_existing "$(cat "$tmp/e")"
# damage: each case exits 2 with one line and leaves nothing
damage() { # damage NAME FRAGMENT PYTHON-EDIT
    local name=$1 frag=$2 edit=$3
    cp "$tmp/fp8-block.mkp" "$tmp/d-$name.mkp"
    python3 - "$tmp/d-$name.mkp" <<<"$edit" || { bad "damage_$name" "edit failed"; return; }
    "$MK" unpack "$tmp/d-$name.mkp" "$tmp/du-$name" >/dev/null 2>"$tmp/e"
    local rc=$?
    if [ "$rc" -eq 2 ] && [ "$(wc -l <"$tmp/e")" -eq 1 ] && grep -q -- "$frag" "$tmp/e" && [ -z "$(ls -A "$tmp/du-$name" 2>/dev/null)" ]; then
        ok "damage_$name"
    else bad "damage_$name" "exit $rc: $(cat "$tmp/e"); left: $(ls -A "$tmp/du-$name" 2>/dev/null | head -3)"; fi
}
damage flipped_chunk_byte "damaged" '
import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[len(b)//3] ^= 0x40; open(p,"wb").write(b)'
damage truncated "no index footer" '
import sys; p=sys.argv[1]; b=open(p,"rb").read(); open(p,"wb").write(b[:len(b)-1000])'
damage bad_magic "bad magic" '
import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[0]=0; open(p,"wb").write(b)'
damage index_offset "does not fit" '
import sys, struct; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); o=struct.unpack("<Q", b[-24:-16])[0]; b[-24:-16]=struct.pack("<Q", o+1); open(p,"wb").write(b)'
damage chunk_table "bad zstd frame" '
import sys, struct, subprocess, json
p=sys.argv[1]; b=open(p,"rb").read(); o, n = struct.unpack("<QQ", b[-24:-8])
idx = json.loads(subprocess.run(["zstd","-dc"], input=b[o:o+n], capture_output=True, check=True).stdout)
idx["files"][1]["chunks"][0]["offset"] += 3       # points into the wrong frame
j = json.dumps(idx).encode(); z = subprocess.run(["zstd","-c","-19","--stream-size=%d" % len(j)], input=j, capture_output=True, check=True).stdout
open(p,"wb").write(b[:o] + z + struct.pack("<QQ", o, len(z)) + b"MKPACKIX")'
damage chunk_hash "xxh64 mismatch" '
import sys, struct, subprocess, json
p=sys.argv[1]; b=open(p,"rb").read(); o, n = struct.unpack("<QQ", b[-24:-8])
idx = json.loads(subprocess.run(["zstd","-dc"], input=b[o:o+n], capture_output=True, check=True).stdout)
c = idx["files"][2]["chunks"][-1]; c["xxh64"] = "%016x" % (int(c["xxh64"], 16) ^ 1)
j = json.dumps(idx).encode(); z = subprocess.run(["zstd","-c","-19","--stream-size=%d" % len(j)], input=j, capture_output=True, check=True).stdout
open(p,"wb").write(b[:o] + z + struct.pack("<QQ", o, len(z)) + b"MKPACKIX")'
damage escaping_name "index entry 0 is damaged" '
import sys, struct, subprocess, json
p=sys.argv[1]; b=open(p,"rb").read(); o, n = struct.unpack("<QQ", b[-24:-8])
idx = json.loads(subprocess.run(["zstd","-dc"], input=b[o:o+n], capture_output=True, check=True).stdout)
idx["files"][0]["name"] = "../escape.json"
j = json.dumps(idx).encode(); z = subprocess.run(["zstd","-c","-19","--stream-size=%d" % len(j)], input=j, capture_output=True, check=True).stdout
open(p,"wb").write(b[:o] + z + struct.pack("<QQ", o, len(z)) + b"MKPACKIX")'
[ ! -e "$tmp/escape.json" ] && ok no_escape || bad no_escape "file written outside"
finish
