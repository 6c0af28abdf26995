#!/usr/bin/env bash
# scripts/mutants.sh [--quick] [--baseline N] [--all-stages] [--budget S] [NAME...]
#
# Mutation testing of libchm (make mutants / make mutants-quick build what
# this needs first).  Each mutant NAME is libchm with one planted
# concurrency bug (-DCHM_MUTANT_<NAME>, the #ifdef blocks in src/chm/*.c),
# built by the Makefile into build/mutant-NAME/: chmstress (normal flags),
# asan/chmstress (ASan+UBSan) and driver (tests/mutants/chm_mutant_driver.c).
# build/mutant-none/ is the unmodified library built the same way.
#
# For each mutant the stages of its plan (below) run in order, each command
# again and again until it catches the mutant or the stage's time is up:
#
#   counts   chmstress --check counts on a workload of workloads/mutants/
#            that stresses the path the bug is on (exit 1 = a check failed)
#   lin      the same with --check linearizability, if this chmstress
#            implements it (probed once, on the unmodified build)
#   asan     the ASan+UBSan chmstress on the same workload, counts checks
#   driver   chm_mutant_driver, for paths chmstress cannot reach or judge
#            (tree bins; reads that wrongly say "absent")
#
# Caught = the run exits 1 (a check failed), or prints a sanitizer report,
# or dies of a signal (a crash); which one is printed.  A run that hangs is
# killed and noted, but is not a catch.  When a normal build crashes and
# the plan has an ASan stage, that stage runs too, only to name the memory
# error in the evidence.  Each mutant has --budget seconds
# (default 60) over all its stages.  Output: one line per mutant,
#
#   NAME: caught by CHECK in S s        or        NAME: MISSED
#
# followed by an indented line of evidence; logs, stderr and result files of
# the last runs go to build/mutants/.  Exit status 1 if any mutant was missed
# (or the control found an alarm), 2 on bad usage or a missing build.
#
# Before the mutants a control pass runs every command of the selected plans
# once on build/mutant-none: an alarm there is a false alarm and fails the
# script (a mutant "caught" by a broken harness proves nothing).
# --baseline N runs only that control, N times per command, and reports.
# --all-stages keeps running the later stages after a catch (evidence of
# what each stage sees); the time reported is still the first catch.
# --quick: the CI subset's settings (budget 30 s per mutant).
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo" || exit 2
BUILD=${BUILD:-build}
LOGDIR=$BUILD/mutants
WL=workloads/mutants

budget=60
baseline=0
all_stages=0
names=()
while [ $# -gt 0 ]; do
    case $1 in
        --quick) budget=30 ;;
        --baseline) baseline=${2:-}; shift ;;
        --all-stages) all_stages=1 ;;
        --budget) budget=${2:-}; shift ;;
        -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) echo "mutants.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) names+=("$1") ;;
    esac
    shift
done
case $baseline in ''|*[!0-9]*) echo "mutants.sh: --baseline needs a count" >&2; exit 2 ;; esac
case $budget in ''|*[!0-9]*|0) echo "mutants.sh: --budget needs seconds > 0" >&2; exit 2 ;; esac
ALL_MUTANTS=(free_no_grace put_no_lock get_ignores_fwd transfer_drops_node
             counter_nonatomic pia_outside_lock remove_no_lock tree_reader_no_yield)
[ ${#names[@]} -gt 0 ] || names=("${ALL_MUTANTS[@]}")

# Counter cells: libchm gives each map 2 x CPUs cells (a power of two, at
# most 256) and each handle one cell, round-robin; handles share a cell only
# when there are more threads than cells.  counter_nonatomic runs twice as
# many threads as cells (chmstress allows up to 254; with 128+ CPUs, 256
# cells, no two of 254 handles share one and this mutant cannot be caught).
ncpu=$(getconf _NPROCESSORS_ONLN 2>/dev/null || nproc)
ncells=2
while [ "$ncells" -lt $((ncpu * 2)) ] && [ "$ncells" -lt 256 ]; do ncells=$((ncells * 2)); done
counter_threads=$((ncells * 2))
[ "$counter_threads" -le 254 ] || counter_threads=254

# ---- the plans -----------------------------------------------------------------
# One stage a line: KIND CAP TARGET REPEAT [ARGS...]
#   KIND    counts | lin | asan | driver
#   CAP     seconds this stage may use at most (within the mutant's budget)
#   TARGET  a workload in workloads/mutants/ (without .json), or the
#           driver's mode (tree | resize)
#   REPEAT  chmstress --repeat (fresh maps per invocation), or the driver's
#           seconds per invocation
#   ARGS    more chmstress / driver arguments
plan() {
    case $1 in
        free_no_grace)         # use-after-free: readers still on freed nodes
            echo "counts 20 grow 4"
            echo "lin 20 grow 4"
            echo "asan 30 grow 2" ;;
        put_no_lock)           # unlocked appends: lost inserts
            echo "counts 20 bin-race 2"
            echo "lin 20 bin-race 2" ;;
        get_ignores_fwd)       # a read during a resize says "absent"; the
            # count checks judge only the values reads return, so they cannot
            # see it: linearizability can, and the driver's resize mode does
            echo "counts 5 grow 4"
            echo "lin 20 grow 4"
            echo "driver 20 resize 3" ;;
        transfer_drops_node)   # keys vanish on every split with a lastRun tail
            echo "counts 20 grow 4"
            echo "lin 20 grow 4"
            echo "asan 20 grow 2" ;;
        counter_nonatomic)     # lost size updates between handles sharing a cell
            echo "counts 20 counter-race 2 -t $counter_threads"
            echo "lin 20 counter-race 2 -t $counter_threads" ;;
        pia_outside_lock)      # two inserts of one absent key
            echo "counts 20 pia-fill 10"
            echo "lin 20 pia-fill 10" ;;
        remove_no_lock)        # unlocked unlinks: lost inserts, double retires
            echo "counts 20 bin-race 2"
            echo "lin 20 bin-race 2"
            echo "asan 20 bin-race 1" ;;
        tree_reader_no_yield)  # chmstress's seeded XXH3 over integer keys
            # practically never puts 8 keys in one bin of a 64+ bin table, so
            # its maps have no tree bins: only the driver reaches this code
            echo "driver 30 tree 3" ;;
        *) return 1 ;;
    esac
}

for n in "${names[@]}"; do
    plan "$n" >/dev/null || { echo "mutants.sh: no mutant named '$n' (known: ${ALL_MUTANTS[*]})" >&2; exit 2; }
done

now() { echo "${EPOCHREALTIME/,/.}"; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
remaining() { awk -v d="$1" -v b="$(now)" 'BEGIN { r = d - b; printf "%d", (r > 0 ? r : 0) }'; }

mkdir -p "$LOGDIR"

# Binaries of variant V for stage KIND.
bin_for() {
    case $2 in
        counts|lin) echo "$BUILD/mutant-$1/chmstress" ;;
        asan) echo "$BUILD/mutant-$1/asan/chmstress" ;;
        driver) echo "$BUILD/mutant-$1/driver" ;;
    esac
}

# Sanitizers: every report fails the run (as tests/run.sh).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

# ---- does this chmstress implement --check linearizability? -------------------
# Probed on the unmodified build: supported when the run passes and its
# result file's "checks" hold a linearizability entry.  "not implemented",
# a refusal (exit 2), or a run that quietly did only the count checks all
# mean no.
lin_ok=0
lin_why=""
probe_lin() {
    local b=$BUILD/mutant-none/chmstress out=$LOGDIR/lin-probe.json err=$LOGDIR/lin-probe.err rc
    timeout 60 "$b" run -w "$WL/bin-race.json" -m chm -t 2 -n 20000 --check linearizability \
        -q -o "$out" </dev/null 2>"$err" >/dev/null
    rc=$?
    if grep -qi 'not implemented' "$err"; then
        lin_why="chmstress says: $(grep -im1 'not implemented' "$err")"
    elif [ "$rc" -ne 0 ]; then
        lin_why="a --check linearizability run on the unmodified map exited $rc: $(head -n1 "$err")"
    elif sed -n '/^ *"checks": *\[/,$p' "$out" | grep -qi '"lineariz'; then
        lin_ok=1
    else
        lin_why="accepted, but the result holds only the count checks (not implemented yet)"
    fi
}

# ---- one invocation -------------------------------------------------------------
# run_once VARIANT KIND TARGET REPEAT SECONDS_LEFT TAG [ARGS...]
# Sets verdict (clean | caught | hang | error), how (what caught it) and
# evidence (one line).
run_once() {
    local v=$1 kind=$2 target=$3 rep=$4 left=$5 tag=$6
    shift 6
    local b out err rc cmd=()
    b=$(bin_for "$v" "$kind")
    out=$LOGDIR/$tag.json
    err=$LOGDIR/$tag.err
    case $kind in
        counts) cmd=("$b" run -w "$WL/$target.json" --check counts --repeat "$rep" -q -o "$out" "$@") ;;
        lin) cmd=("$b" run -w "$WL/$target.json" --check linearizability --repeat "$rep" -q -o "$out" "$@") ;;
        asan) cmd=("$b" run -w "$WL/$target.json" --check counts --repeat "$rep" -q -o "$out" "$@") ;;
        driver) cmd=("$b" "$target" -d "$rep" "$@") ;;
    esac
    # A run is bounded by the time left, and by 30 s: none should take more
    # than a few seconds, so one that does is stuck.
    local limit=$left
    [ "$limit" -le 30 ] || limit=30
    [ "$limit" -ge 2 ] || limit=2
    echo "\$ ${cmd[*]}" > "$LOGDIR/$tag.cmd"
    # (the braces keep bash's own "Segmentation fault" line off the terminal)
    { timeout -k 5 "$limit" "${cmd[@]}" </dev/null >"$LOGDIR/$tag.out" 2>"$err"; } 2>/dev/null
    rc=$?
    verdict=clean how="" evidence=""
    local san
    # "ERROR: AddressSanitizer: heap-use-after-free on address ..." ->
    # "AddressSanitizer: heap-use-after-free"; UBSan: "runtime error: ...".
    san=$(sed -n -e 's/^.*ERROR: \([A-Za-z]*Sanitizer\): \(.*\)$/\1: \2/p' \
                 -e 's/^.*\(runtime error: .*\)$/UndefinedBehaviorSanitizer: \1/p' "$err" |
          head -n1 | sed -e 's/ on \(address\|unknown address\|0x\).*//' -e 's/ (pc 0x.*//' \
                         -e 's/ in thread .*//')
    if [ -n "$san" ]; then
        verdict=caught
        how="$kind run: sanitizer report ($san)"
        # ... and where: the first libchm frame outside the allocator.
        evidence="$san$(awk '/^ *#[0-9]+ / && / in chm_/ && !/chm_alloc\.c/ {
                                 print " in " $4 " (" $5 ")"; exit }' "$err")"
    elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        verdict=hang
        evidence="no exit within $limit s (killed)"
    elif [ "$rc" -gt 128 ]; then
        verdict=caught
        how="$kind run: crash (SIG$(kill -l $((rc - 128)) 2>/dev/null || echo $((rc - 128))))"
        evidence=$(grep -m1 -v '^ *$' "$err")
        [ -n "$evidence" ] || evidence="no message before the signal"
    elif [ "$rc" -eq 1 ]; then
        verdict=caught
        # Which checks failed: the evidence lines on stderr name them.
        local checks=()
        grep -q '^ *linearizability:' "$err" && checks+=(linearizability)
        grep -q '^ *conservation:' "$err" && checks+=(conservation)
        grep -q '^ *size:' "$err" && checks+=(size)
        grep -q '^ *value provenance:' "$err" && checks+=(provenance)
        [ "$kind" != driver ] || checks=("$target")
        local list
        list=$(IFS=,; echo "${checks[*]:-unnamed}")
        how="$kind check (${list//,/, })"
        # The first evidence line; one that ends in ':' introduces the next few.
        evidence=$(awk '
            n > 0 { sub(/^ +/, ""); ev = ev " / " $0; if (--n == 0) exit; next }
            /^ *(linearizability|conservation|size|value provenance):|FAIL:/ {
                sub(/^ +/, ""); ev = $0; if ($0 !~ /:$/) exit; n = 3 }
            END { print ev }' "$err")
        [ -n "$evidence" ] || evidence=$(grep -m1 -v '^ *$' "$err")
    elif [ "$rc" -ne 0 ]; then
        verdict=error
        evidence="exit $rc: $(grep -m1 -v '^ *$' "$err")"
    fi
    return 0
}

short() { local s=$1; [ ${#s} -le 400 ] && echo "$s" || echo "${s:0:397}..."; }

# ---- the control: every command on the unmodified library -----------------------
# control_commands prints the distinct stages of the selected plans.
control_commands() {
    local n
    for n in "${names[@]}"; do plan "$n"; done | awk '{ $2 = ""; print }' | sed 's/  */ /g' | sort -u
}

control() {
    local times=$1 alarms=0 kind target rep args i runs tag
    while read -r kind target rep args; do
        [ -n "$kind" ] || continue
        if [ "$kind" = lin ] && [ "$lin_ok" -ne 1 ]; then
            continue
        fi
        runs=0
        local bad=""
        for ((i = 1; i <= times; i++)); do
            tag="none.$kind.$target"
            # shellcheck disable=SC2086
            run_once none "$kind" "$target" "$rep" 60 "$tag" $args
            runs=$((runs + 1))
            if [ "$verdict" != clean ]; then
                bad="$verdict: ${how:+$how: }$(short "$evidence")"
                break
            fi
        done
        local what="$kind $target${args:+ $args}"
        if [ -z "$bad" ]; then
            echo "control: $what: $runs run(s), all clean"
        else
            echo "control: $what: FALSE ALARM in run $runs: $bad"
            alarms=$((alarms + 1))
        fi
    done < <(control_commands)
    return "$alarms"
}

# ---- check the builds ----------------------------------------------------------------
need=("$BUILD/mutant-none/chmstress" "$BUILD/mutant-none/asan/chmstress" "$BUILD/mutant-none/driver")
if [ "$baseline" -eq 0 ]; then
    for n in "${names[@]}"; do
        need+=("$BUILD/mutant-$n/chmstress" "$BUILD/mutant-$n/asan/chmstress" "$BUILD/mutant-$n/driver")
    done
fi
for f in "${need[@]}"; do
    [ -x "$f" ] || { echo "mutants.sh: $f is missing: run make mutants (or make mutants-build)" >&2; exit 2; }
done

probe_lin
if [ "$lin_ok" -eq 1 ]; then
    echo "linearizability: supported; lin stages run"
else
    echo "linearizability: unavailable ($lin_why); lin stages skipped"
fi
echo "cpus: $ncpu, counter cells per map: $ncells, counter_nonatomic runs $counter_threads threads"

if [ "$baseline" -gt 0 ]; then
    control "$baseline"
    a=$?
    [ "$a" -eq 0 ] && echo "baseline: no false alarms" || echo "baseline: $a command(s) raised false alarms"
    [ "$a" -eq 0 ]
    exit $?
fi

control 1
false_alarms=$?

# ---- the mutants ---------------------------------------------------------------------
missed=0
caught_n=0
for n in "${names[@]}"; do
    start=$(now)
    deadline=$(awk -v s="$start" -v b="$budget" 'BEGIN { printf "%.6f", s + b }')
    first=""
    first_ev=""
    notes=()
    while read -r kind cap target rep args; do
        [ -n "$kind" ] || continue
        if [ "$kind" = lin ] && [ "$lin_ok" -ne 1 ]; then
            notes+=("lin: skipped (unavailable)")
            continue
        fi
        [ -z "$first" ] || [ "$all_stages" -eq 1 ] || break
        stage_end=$(awk -v a="$(now)" -v c="$cap" -v d="$deadline" 'BEGIN { e = a + c; printf "%.6f", (e < d ? e : d) }')
        # With --all-stages, stages after the catch get their own time.
        [ -z "$first" ] || stage_end=$(awk -v a="$(now)" -v c="$cap" 'BEGIN { printf "%.6f", a + c }')
        runs=0
        stage_verdict="clean"
        while :; do
            left=$(remaining "$stage_end")
            [ "$left" -ge 1 ] || break
            runs=$((runs + 1))
            # shellcheck disable=SC2086
            run_once "$n" "$kind" "$target" "$rep" "$left" "$n.$kind" $args
            case $verdict in
                caught)
                    stage_verdict="caught by $how (run $runs)"
                    if [ -z "$first" ]; then
                        first="$how"
                        first_t=$(elapsed "$start")
                        first_ev=$evidence
                    fi
                    break ;;
                hang) notes+=("$kind: run $runs hung ($evidence)") ;;
                error)
                    notes+=("$kind: run $runs failed to run: $(short "$evidence")")
                    stage_verdict="error"
                    break ;;
            esac
        done
        [ "$stage_verdict" != clean ] || stage_verdict="clean in $runs run(s)"
        notes+=("$kind $target: $stage_verdict")
        [ -n "$first" ] || [ "$(remaining "$deadline")" -ge 1 ] || break
    done < <(plan "$n")
    # A bare crash of a normal build says little: when the plan has an ASan
    # stage that did not run, run it (for the evidence only) to name the
    # memory error.
    if [[ $first == *": crash ("* ]] && [ "$all_stages" -eq 0 ] &&
       read -r _ cap target rep args < <(plan "$n" | grep '^asan '); then
        stage_end=$(awk -v a="$(now)" -v c="$cap" 'BEGIN { printf "%.6f", a + c }')
        runs=0
        while [ "$(remaining "$stage_end")" -ge 1 ]; do
            runs=$((runs + 1))
            # shellcheck disable=SC2086
            run_once "$n" asan "$target" "$rep" "$(remaining "$stage_end")" "$n.asan" $args
            [ "$verdict" = clean ] || break
        done
        if [ "$verdict" = caught ]; then
            first_ev="$first_ev; the ASan build names it: $evidence"
            notes+=("asan $target (diagnosis): $how (run $runs)")
        fi
    fi
    {
        echo "mutant $n"
        printf '  %s\n' "${notes[@]}"
    } > "$LOGDIR/$n.summary"
    if [ -n "$first" ]; then
        echo "$n: caught by $first in $first_t s"
        echo "    $(short "$first_ev")"
        caught_n=$((caught_n + 1))
    else
        echo "$n: MISSED"
        echo "    $(short "$(IFS=';'; echo "${notes[*]}")")"
        missed=$((missed + 1))
    fi
    if [ "$all_stages" -eq 1 ]; then
        printf '    %s\n' "${notes[@]}"
    fi
done

echo "mutants: $caught_n caught, $missed missed (logs in $LOGDIR/)"
[ "$false_alarms" -eq 0 ] || echo "mutants: the control raised $false_alarms false alarm(s): the catches above prove nothing"
[ "$missed" -eq 0 ] && [ "$false_alarms" -eq 0 ]
