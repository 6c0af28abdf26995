#!/usr/bin/env bash
# scripts/lin_soak.sh [RUNS] - false-alarm soak of the linearizability check:
# RUNS (default 100) randomized runs of workloads/lin-hot.json against the
# unmodified libchm (random seed, 2..4 threads, 0.2..0.6 s phases).  Any
# failure of a correct map is a false alarm of the checker or the recording:
# the run's result file is kept and the script exits 1.
set -u
cd "$(dirname "$0")/.."
runs=${1:-100}
bin=${CHMSTRESS:-build/chmstress}
out=$(mktemp -d "${TMPDIR:-/tmp}/lin-soak.XXXXXX")
alarms=0
keys=0
ops=0
start=$SECONDS
for i in $(seq 1 "$runs"); do
    seed=$(( (RANDOM << 15 | RANDOM) + i ))
    threads=$(( 2 + RANDOM % 3 ))
    dur=$(printf '0.%d' $(( 2 + RANDOM % 5 )))
    f="$out/run-$i.json"
    "$bin" run -w workloads/lin-hot.json -m chm -t "$threads" --seed "$seed" \
        -d "$dur" --quiet -o "$f" 2> "$out/run-$i.err"
    rc=$?
    if [ "$rc" -ne 0 ]; then
        alarms=$((alarms + 1))
        echo "run $i (seed $seed, $threads threads, $dur s): exit $rc  -> $f"
        head -20 "$out/run-$i.err"
        continue
    fi
    read -r k o < <(python3 -c 'import json,sys
c=json.load(open(sys.argv[1]))["checks"][0]["linearizability"]
print(c["keys"], c["ops"])' "$f" 2>/dev/null || echo "0 0")
    keys=$((keys + k)); ops=$((ops + o))
    rm -f "$f" "$out/run-$i.err"
done
echo "lin-soak: $runs runs, $keys keys and $ops operations checked, $alarms false alarm(s) in $((SECONDS - start)) s"
[ "$alarms" -eq 0 ] && rmdir "$out" 2>/dev/null
[ "$alarms" -eq 0 ]
