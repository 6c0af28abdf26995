#!/usr/bin/env bash
# tests/test_plot.sh: scripts/plot on result files made now by this build's
# chmstress ($CHMSTRESS, workloads in $CS_WORKLOAD_DIR; tests/run.sh sets
# both): the charts it must write (exact file set, real PNGs of the expected
# pixel size), a result holding two workloads (per-workload charts identical
# to the ones drawn from each workload's own file), and bad input (exit 2,
# a message naming the file, nothing drawn).
# Prints `ok - NAME` / `not ok - NAME` lines (tests/run.sh counts them);
# exit status 1 when a test failed.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
plot=$repo/scripts/plot
chmstress=${CHMSTRESS:-$repo/build/chmstress}
wdir=${CS_WORKLOAD_DIR:-$repo/workloads}

passed=0
failed=0
ok() {
    echo "ok - $1"
    passed=$((passed + 1))
}
not_ok() {
    echo "not ok - $1"
    shift
    local m
    for m in "$@"; do echo "# $m"; done
    failed=$((failed + 1))
}
finish() {
    echo "# test_plot.sh: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

# the directory has a space in its name: paths must be quoted all the way
tmp=$(mktemp -d "${TMPDIR:-/tmp}/chm plot test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# ---- PNG checks -----------------------------------------------------------------
# png_size FILE: "WIDTH HEIGHT" from the IHDR chunk, or nothing if FILE is not a PNG
png_size() {
    local magic ihdr
    magic=$(od -An -tx1 -N8 "$1" | tr -d ' \n')
    ihdr=$(od -An -tx1 -j12 -N4 "$1" | tr -d ' \n')
    [ "$magic" = 89504e470d0a1a0a ] && [ "$ihdr" = 49484452 ] || return 0
    od -An -tu1 -j16 -N8 "$1" |
        awk '{ w = (($1 * 256 + $2) * 256 + $3) * 256 + $4
               h = (($5 * 256 + $6) * 256 + $7) * 256 + $8
               print w, h }'
}
# check_png FILE [WIDTH HEIGHT]: prints a reason when FILE is not right
check_png() {
    local f=$1 sz bytes
    [ -f "$f" ] || { echo "$f: missing"; return; }
    sz=$(png_size "$f")
    [ -n "$sz" ] || { echo "$f: not a PNG (magic bytes / IHDR)"; return; }
    bytes=$(wc -c <"$f")
    # a blank chart of this size compresses to a few KB; text and lines do not
    [ "$bytes" -ge 12000 ] || echo "$f: only $bytes bytes: an empty chart?"
    if [ $# -ge 3 ] && [ "$sz" != "$2 $3" ]; then
        echo "$f: ${sz/ /x} pixels, expected ${2}x$3 (layout)"
    fi
    if [ $# -lt 3 ]; then
        read -r w h <<<"$sz"
        [ "$w" -ge 600 ] && [ "$h" -ge 400 ] || echo "$f: ${w}x$h pixels: too small"
    fi
}

# ---- fixtures: tiny runs of this build's chmstress ------------------------------
fixtures_ok=1
mkdir -p "$tmp/rh" "$tmp/rg" "$tmp/multi"
if ! "$chmstress" run -w "$wdir/read-heavy.json" -m chm,locked -t 1,2 --repeat 2 \
    -d 0.05 -k 4096 --quiet -o "$tmp/rh/r.json" >"$tmp/cs.log" 2>&1; then
    fixtures_ok=0
    not_ok "fixture_read_heavy" "$chmstress run read-heavy failed:" "$(tail -n 5 "$tmp/cs.log")"
fi
if ! "$chmstress" run -w "$wdir/resize-grow.json" -m chm,locked -t 1,2 -n 20000 \
    --quiet -o "$tmp/rg/r0.json" >"$tmp/cs.log" 2>&1; then
    fixtures_ok=0
    not_ok "fixture_resize_grow" "$chmstress run resize-grow failed:" "$(tail -n 5 "$tmp/cs.log")"
fi
if [ "$fixtures_ok" = 0 ]; then
    finish
    exit 1
fi
# The resize run must resize, or its timelines do not test the resize marks.
if jq -e '[.runs[] | select(.map == "chm") | .timeline[].resizes] | (max - min) > 0' \
    "$tmp/rg/r0.json" >/dev/null; then
    ok "fixture_resize_grow_resizes"
else
    not_ok "fixture_resize_grow_resizes" "the chm runs of resize-grow show no resize"
fi
# The second workload with the first one's header (tool, host, time), so
# that a chart's footnote is the same whichever file it comes from.
jq --slurpfile a "$tmp/rh/r.json" '. + ($a[0] | {tool, host, started_at})' \
    "$tmp/rg/r0.json" >"$tmp/rg/r.json"
# A result with both workloads, as `chmstress run -w A -w B` writes it:
# "workload" in every run and summary row, "workloads" the configs.
jq -s '.[0] as $a | .[1] as $b
       | $a + {runs: ([$a.runs[] + {workload: $a.config.name}] + [$b.runs[] + {workload: $b.config.name}]),
               summary: ([$a.summary[] + {workload: $a.config.name}] + [$b.summary[] + {workload: $b.config.name}]),
               checks: ($a.checks + $b.checks),
               workloads: [$a.config, $b.config]}' \
    "$tmp/rh/r.json" "$tmp/rg/r.json" >"$tmp/multi/r.json"

rh_files=(throughput-read-heavy.png latency-read-heavy-t1.png latency-read-heavy-t2.png
          timeline-read-heavy-chm-t1.png timeline-read-heavy-chm-t2.png
          timeline-read-heavy-locked-t1.png timeline-read-heavy-locked-t2.png)
rg_files=(throughput-resize-grow.png latency-resize-grow-t1.png latency-resize-grow-t2.png
          timeline-resize-grow-chm-t1.png timeline-resize-grow-chm-t2.png
          timeline-resize-grow-locked-t1.png timeline-resize-grow-locked-t2.png)

# check_set NAME DIR STDOUT_FILE FILES...: DIR holds exactly FILES, each a
# real PNG, and the script printed exactly their paths
check_set() {
    local name=$1 dir=$2 out=$3
    shift 3
    local errs=() f want got
    want=$(printf '%s\n' "$@" | sort)
    got=$(find "$dir" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort)
    [ "$want" = "$got" ] || errs+=("files in $dir:" "$(echo "$got" | paste -sd' ')" "expected:" "$(echo "$want" | paste -sd' ')")
    got=$(sort "$out")
    want=$(printf "$dir/%s\n" "$@" | sort)
    [ "$want" = "$got" ] || errs+=("printed:" "$(paste -sd' ' <"$out")")
    for f in "$@"; do
        local e
        e=$(check_png "$dir/$f")
        [ -z "$e" ] || errs+=("$e")
    done
    if [ ${#errs[@]} -eq 0 ]; then ok "$name"; else not_ok "$name" "${errs[@]}"; fi
}

# run_plot NAME ARGS...: scripts/plot must exit 0
run_plot() {
    local name=$1
    shift
    local rc=0
    "$plot" "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
    if [ "$rc" -eq 0 ]; then
        return 0
    fi
    not_ok "$name" "scripts/plot $* exited $rc:" "$(tail -n 5 "$tmp/err")"
    return 1
}

# ---- the numbers behind the charts (PLOT_DATA_DIR keeps them) ---------------------
# check_throughput_data NAME RESULT DATADIR WORKLOAD: the throughput chart's
# points (map, threads, median, min, max) are chmstress's own summary rows
check_throughput_data() {
    local name=$1 result=$2 data=$3 wl=$4 errs
    errs=$(cat "$data"/throughput-"$wl".thr.*.tsv 2>/dev/null |
        jq -nrR --slurpfile r "$result" --arg wl "$wl" '
          [inputs | select(length > 0) | split("\t") | select(.[0] != "NaN")
           | {map: .[5], threads: (.[0] | tonumber), med: (.[1] | tonumber),
              min: (.[2] | tonumber), max: (.[3] | tonumber)}] as $got
          | [$r[0].summary[] | select(.measure and (.workload // $r[0].config.name) == $wl)
             | {map, threads, med: .mops_median, min: .mops_min, max: .mops_max}] as $want
          | def close(a; b): ((a - b) | fabs) <= 1e-4 * ([(a | fabs), (b | fabs), 1e-9] | max);
            if ($want | length) == 0 then "no summary rows for \($wl)"
            elif ($got | length) != ($want | length) then "\($got | length) points charted, \($want | length) summary rows"
            else ($want[] as $w
                  | ([$got[] | select(.map == $w.map and .threads == $w.threads)] | first) as $g
                  | if $g == null then "\($w.map) t\($w.threads): not charted"
                    elif (close($g.med; $w.med) and close($g.min; $w.min) and close($g.max; $w.max)) | not
                    then "\($w.map) t\($w.threads): charted \($g.med) [\($g.min), \($g.max)], summary \($w.med) [\($w.min), \($w.max)]"
                    else empty end)
            end' 2>&1) || errs="jq failed: $errs"
    if [ -z "$errs" ]; then ok "$name"; else not_ok "$name" "$errs"; fi
}

# check_latency_data NAME RESULT DATADIR WORKLOAD THREADS: every latency bar
# is the percentile of a measured run of that map, and that run is the one
# with the median Mops/s (the lower middle one for an even count).  A
# percentile of 0 (an op type with no samples in that run) is drawn as no
# bar (NaN: the axis is logarithmic).
check_latency_data() {
    local name=$1 result=$2 data=$3 wl=$4 t=$5 errs
    errs=$(cat "$data"/latency-"$wl"-t"$t".lat.*.tsv 2>/dev/null |
        jq -nrR --slurpfile r "$result" --arg wl "$wl" --argjson t "$t" '
          [inputs | select(length > 0) | split("\t")
           | {ns: .[2], map: .[3], pct: .[4], phase: .[5], op: .[6], rep: (.[7] | tonumber)}] as $got
          | [$r[0].runs[] | select(.measure and .threads == $t and (.workload // $r[0].config.name) == $wl)] as $runs
          | if ($got | length) == 0 then "no latency bars"
            else ($got[] as $g
              | [$runs[] | select(.map == $g.map and .phase == $g.phase)] as $rs
              | ([$rs[] | select(.repeat == $g.rep)] | first) as $run
              | if $run == null then "\($g.map) \($g.op): repeat \($g.rep) is no measured run"
                elif (($run.ops_by_type[$g.op].latency_ns[$g.pct] // 0)
                      | if . > 0 then tostring else "NaN" end) != $g.ns
                then "\($g.map) \($g.op) \($g.pct): charted \($g.ns), the run says \($run.ops_by_type[$g.op].latency_ns[$g.pct])"
                elif ([$rs[] | select(.mops < $run.mops)] | length) != ((($rs | length) - 1) / 2 | floor)
                then "\($g.map): repeat \($g.rep) (\($run.mops) Mops/s) is not the median of \([$rs[].mops])"
                else empty end)
            end' 2>&1 | sort -u) || errs="jq failed: $errs"
    if [ -z "$errs" ]; then ok "$name"; else not_ok "$name" "$errs"; fi
}

# ---- one workload, default output directory -------------------------------------
if PLOT_DATA_DIR=$tmp/rh/data run_plot plot_read_heavy "$tmp/rh/r.json"; then
    check_set plot_read_heavy "$tmp/rh/r" "$tmp/out" "${rh_files[@]}"
    # the layouts: one throughput panel; 3 op types (get, put_if_absent,
    # remove) side by side; the timeline
    errs=()
    for spec in "throughput-read-heavy.png 960 668" "latency-read-heavy-t2.png 1680 540" \
                "timeline-read-heavy-locked-t1.png 1120 600"; do
        read -r f w h <<<"$spec"
        e=$(check_png "$tmp/rh/r/$f" "$w" "$h")
        [ -z "$e" ] || errs+=("$e")
    done
    if [ ${#errs[@]} -eq 0 ]; then ok plot_read_heavy_layout; else not_ok plot_read_heavy_layout "${errs[@]}"; fi
    # other data, other charts: the two chm timelines are not the same picture
    if cmp -s "$tmp/rh/r/timeline-read-heavy-chm-t1.png" "$tmp/rh/r/timeline-read-heavy-chm-t2.png"; then
        not_ok plot_read_heavy_distinct "the 1- and 2-thread timelines are byte-identical"
    else
        ok plot_read_heavy_distinct
    fi
    check_throughput_data throughput_is_summary "$tmp/rh/r.json" "$tmp/rh/data" read-heavy
    check_latency_data latency_is_median_repeat_t1 "$tmp/rh/r.json" "$tmp/rh/data" read-heavy 1
    check_latency_data latency_is_median_repeat_t2 "$tmp/rh/r.json" "$tmp/rh/data" read-heavy 2
fi

# ---- the resize workload, explicit output directory -------------------------------
if PLOT_DATA_DIR=$tmp/rg/data run_plot plot_resize_grow "$tmp/rg/r.json" "$tmp/rg/charts"; then
    check_set plot_resize_grow "$tmp/rg/charts" "$tmp/out" "${rg_files[@]}"
    # the resize marks add up to the resizes of the run (repeat 0, all phases)
    errs=()
    for m in chm locked; do
        for t in 1 2; do
            want=$(jq --arg m "$m" --argjson t "$t" '
                [.runs[] | select(.map == $m and .threads == $t and .repeat == 0)]
                | sort_by(.phase_index) | [.[].timeline[].resizes] | last - first' "$tmp/rg/r.json")
            got=$(awk -F'\t' '{ n += $3 } END { print n + 0 }' \
                "$tmp/rg/data/timeline-resize-grow-$m-t$t.tl-resize.tsv" 2>/dev/null || echo missing)
            [ "$want" = "$got" ] || errs+=("$m t$t: $got resizes marked, the run has $want")
        done
    done
    if [ ${#errs[@]} -eq 0 ]; then ok timeline_resize_marks; else not_ok timeline_resize_marks "${errs[@]}"; fi
fi

# ---- two workloads in one file ------------------------------------------------------
if PLOT_DATA_DIR=$tmp/multi/data run_plot plot_multi_workload "$tmp/multi/r.json"; then
    check_set plot_multi_workload "$tmp/multi/r" "$tmp/out" "${rh_files[@]}" "${rg_files[@]}"
    check_throughput_data multi_throughput_is_summary_read_heavy "$tmp/multi/r.json" "$tmp/multi/data" read-heavy
    check_throughput_data multi_throughput_is_summary_resize_grow "$tmp/multi/r.json" "$tmp/multi/data" resize-grow
    check_latency_data multi_latency_is_median_repeat "$tmp/multi/r.json" "$tmp/multi/data" resize-grow 2
    # each workload's charts are exactly those of its own file: the runs
    # were grouped by their "workload" field, nothing mixed in
    diffs=()
    for f in "${rh_files[@]}"; do
        cmp -s "$tmp/multi/r/$f" "$tmp/rh/r/$f" || diffs+=("$f differs from the read-heavy file's")
    done
    for f in "${rg_files[@]}"; do
        cmp -s "$tmp/multi/r/$f" "$tmp/rg/charts/$f" || diffs+=("$f differs from the resize-grow file's")
    done
    if [ ${#diffs[@]} -eq 0 ]; then ok plot_multi_workload_same_charts; else not_ok plot_multi_workload_same_charts "${diffs[@]}"; fi
fi

# The real thing, when this chmstress takes several -w (else the hand-made
# file above stands in for it).
if "$chmstress" run -w "$wdir/read-heavy.json" -w "$wdir/ycsb-c.json" -m chm -t 1 -d 0.05 \
    -k 4096 --quiet -o "$tmp/multi/real.json" >/dev/null 2>&1 &&
    jq -e '[.runs[].workload] | unique | length == 2' "$tmp/multi/real.json" >/dev/null 2>&1; then
    if PLOT_DATA_DIR=$tmp/multi/real-data run_plot plot_multi_workload_real "$tmp/multi/real.json"; then
        check_set plot_multi_workload_real "$tmp/multi/real" "$tmp/out" \
            throughput-read-heavy.png latency-read-heavy-t1.png timeline-read-heavy-chm-t1.png \
            throughput-ycsb-c.png latency-ycsb-c-t1.png timeline-ycsb-c-chm-t1.png
        check_throughput_data multi_real_throughput_is_summary "$tmp/multi/real.json" "$tmp/multi/real-data" ycsb-c
    fi
else
    echo "# skipped plot_multi_workload_real: this chmstress does not write multi-workload results yet"
fi

# ---- the null map -------------------------------------------------------------------
# The null map (the harness alone) runs 30-100x faster than any map and would
# flatten every other line: the throughput chart leaves it out when other maps
# ran; its latency and timeline charts stay.
mkdir -p "$tmp/null"
if "$chmstress" run -w "$wdir/read-heavy.json" -m chm,null -t 1 -d 0.05 -k 4096 \
    --quiet -o "$tmp/null/r.json" >"$tmp/cs.log" 2>&1; then
    if PLOT_DATA_DIR=$tmp/null/data run_plot plot_null_left_out "$tmp/null/r.json"; then
        errs=()
        charted=$(cat "$tmp/null/data"/throughput-read-heavy.thr.*.tsv 2>/dev/null |
            awk -F'\t' 'NF >= 6 { print $6 }' | sort -u | paste -sd' ')
        [ "$charted" = chm ] ||
            errs+=("the throughput chart's maps are '$charted', expected 'chm'")
        for f in throughput-read-heavy.png timeline-read-heavy-null-t1.png \
                 timeline-read-heavy-chm-t1.png latency-read-heavy-t1.png; do
            [ -s "$tmp/null/r/$f" ] || errs+=("no $f")
        done
        if [ ${#errs[@]} -eq 0 ]; then ok plot_null_left_out; else not_ok plot_null_left_out "${errs[@]}"; fi
    fi
else
    not_ok plot_null_left_out "$chmstress run -m chm,null failed:" "$(tail -n 5 "$tmp/cs.log")"
fi

# ---- one resize, alone in its sampling interval -----------------------------------
# A run with a single resize, in its last sampling interval: one resize mark
# and no "×N" label to draw.  gnuplot 5.4.4 segfaulted plotting labels of
# which none was defined when the resize data had one row (found by make
# bench: an exchange run that resized once, at the end of its prefill).
mkdir -p "$tmp/one"
if jq '.runs |= map(if .map == "chm" then
            (.phase == "measure") as $m
            | .timeline |= (length as $n | to_entries
                | map(.value + {resizes: (if $m and .key == $n - 1 then 1 else 0 end)}))
        else . end)' "$tmp/rh/r.json" >"$tmp/one/r.json" 2>"$tmp/jq.err"; then
    if PLOT_DATA_DIR=$tmp/one/data run_plot plot_single_resize "$tmp/one/r.json"; then
        errs=()
        f=$tmp/one/data/timeline-read-heavy-chm-t1.tl-resize.tsv
        ones=$(awk '$3 == 1' "$f" 2>/dev/null | wc -l)
        more=$(awk '$3 > 1' "$f" 2>/dev/null | wc -l)
        [ "$ones" -eq 1 ] && [ "$more" -eq 0 ] ||
            errs+=("the chm t1 timeline data should hold one resize: $ones rows of 1, $more of more")
        check_png_one() { [ -n "$(png_size "$1")" ] || errs+=("$(basename "$1") is not a PNG"); }
        check_png_one "$tmp/one/r/timeline-read-heavy-chm-t1.png"
        check_png_one "$tmp/one/r/timeline-read-heavy-chm-t2.png"
        if [ ${#errs[@]} -eq 0 ]; then ok plot_single_resize; else not_ok plot_single_resize "${errs[@]}"; fi
    fi
else
    not_ok plot_single_resize "jq could not edit the result:" "$(cat "$tmp/jq.err")"
fi

# ---- bad input: exit 2, the file named, nothing drawn ------------------------------
# bad_input NAME FILE PATTERN: scripts/plot FILE must exit 2 with a one-line
# message on stderr naming FILE and matching PATTERN, print nothing on
# stdout, and write no chart
bad_input() {
    local name=$1 file=$2 pattern=$3 rc=0 errs=()
    "$plot" "$file" "$tmp/bad-out" >"$tmp/out" 2>"$tmp/err" || rc=$?
    [ "$rc" -eq 2 ] || errs+=("exit status $rc, expected 2")
    grep -qF -- "$file" "$tmp/err" || errs+=("the message does not name $file")
    grep -qiE -- "$pattern" "$tmp/err" || errs+=("the message does not say /$pattern/")
    [ "$(wc -l <"$tmp/err")" -le 2 ] || errs+=("more than a short message on stderr")
    grep -qiE 'gnuplot|^ *line [0-9]+:' "$tmp/err" && errs+=("gnuplot output on stderr")
    [ -s "$tmp/out" ] && errs+=("printed on stdout: $(head -n 1 "$tmp/out")")
    [ -e "$tmp/bad-out" ] && errs+=("created the output directory")
    rm -rf "$tmp/bad-out"
    if [ ${#errs[@]} -eq 0 ]; then
        ok "$name"
    else
        not_ok "$name" "${errs[@]}" "stderr: $(head -n 3 "$tmp/err")"
    fi
}
mkdir -p "$tmp/bad"
bad_input error_missing_file "$tmp/bad/no-such-result.json" 'no such file'
: >"$tmp/bad/empty.json"
bad_input error_empty_file "$tmp/bad/empty.json" 'empty'
printf '{"schema": "chmstress-result/1", "runs": [\n' >"$tmp/bad/truncated.json"
bad_input error_not_json "$tmp/bad/truncated.json" 'not JSON'
printf 'map threads Mops\nchm 1 3.2\n' >"$tmp/bad/table.txt"
bad_input error_not_json_text "$tmp/bad/table.txt" 'not JSON'
echo '{"schema": "chmstress-workload/1", "name": "x"}' >"$tmp/bad/other.json"
bad_input error_other_schema "$tmp/bad/other.json" 'not a chmstress result'
echo '[1, 2, 3]' >"$tmp/bad/array.json"
bad_input error_json_array "$tmp/bad/array.json" 'not a chmstress result'
jq '.runs |= map(.measure = false)' "$tmp/rh/r.json" >"$tmp/bad/warmup-only.json"
bad_input error_no_measured_runs "$tmp/bad/warmup-only.json" 'no measured runs'
jq '.runs = []' "$tmp/rh/r.json" >"$tmp/bad/no-runs.json"
bad_input error_no_runs "$tmp/bad/no-runs.json" 'no measured runs'
mkdir -p "$tmp/bad/dir.json"
bad_input error_directory "$tmp/bad/dir.json" 'directory'

# usage errors: exit 2
rc=0
"$plot" >/dev/null 2>&1 || rc=$?
if [ "$rc" -eq 2 ]; then ok error_usage; else not_ok error_usage "no arguments: exit $rc, expected 2"; fi

finish
