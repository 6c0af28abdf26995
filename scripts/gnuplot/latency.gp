# scripts/gnuplot/latency.gp: latency percentiles per op type, one panel per
# (measured phase, op type); in each panel one cluster of bars per percentile
# (p50 p90 p99 p99.9 max), one bar per map; log y in ns.  Driven by
# scripts/plot, which sets these variables (strings) with gnuplot -e:
#
#   out, term        output PNG; terminal (pngcairo, or png)
#   data             panel k (1, 2, ...) reads data.'.'.k.'.tsv': rows
#                    "map_index  percentile_index  ns" (1-based; NaN: none)
#   title, subtitle, footer
#   maps, colors     words: map names and their colours (#rrggbb)
#   pcts             words: the percentile names (the clusters)
#   pphase, pop, psamp, prow, pcol   words, one per panel: its phase, op
#                    type, fewest latency samples of a map, grid row, column
#   rows, cols       the grid; multiphase: 1 when the rows are phases

set encoding utf8
np = words(pop)
nm = words(maps)
npct = words(pcts)
nrows = int(rows)
ncols = int(cols)
pw = (ncols == 1) ? 1000 : (ncols == 2) ? 640 : 560     # pixels per panel
ph = 400
top = 112                           # title, subtitle, key
bot = 28                            # footnote
W = ncols * pw
H = nrows * ph + top + bot
if (term eq 'pngcairo') {
    eval sprintf("set terminal pngcairo size %d,%d noenhanced font 'DejaVu Sans,11'", W, H)
} else {
    eval sprintf("set terminal png size %d,%d noenhanced", W, H)
}
set output out

bw = 0.8 / nm                       # bar width; a cluster is 0.8 wide
xbar(p, j) = p + (j - (nm + 1) / 2.0) * bw

# y: decades labelled in ns / µs / ms / s
set logscale y 10
set ytics ()
do for [e = 0:10] {
    v = 10.0 ** e
    lbl = (e < 3) ? sprintf('%d ns', int(v)) : (e < 6) ? sprintf('%d µs', int(v / 1e3)) : \
          (e < 9) ? sprintf('%d ms', int(v / 1e6)) : sprintf('%d s', int(v / 1e9))
    eval sprintf("set ytics add ('%s' %.0f)", lbl, v)
}
set mytics 10
set xtics ()
do for [p = 1:npct] {
    eval sprintf("set xtics add ('%s' %d)", word(pcts, p), p)
}
set xtics scale 0 nomirror
set ytics nomirror
set border 3
set grid ytics mytics lc rgb '#e4e4e4', lc rgb '#f2f2f2'
set xrange [0.5 : npct + 0.5]
set ylabel 'latency (log scale)' offset 1, 0
unset key
set style fill solid 0.9 border lc rgb '#333333'
# compact value labels above the bars: 431, 6.1k, 42k, 1.2M (ns)
short(v) = (v != v) ? '' : (v < 1e3) ? sprintf('%d', int(v)) : (v < 1e4) ? sprintf('%.1fk', v / 1e3) : \
           (v < 1e6) ? sprintf('%dk', int(v / 1e3 + 0.5)) : (v < 1e7) ? sprintf('%.1fM', v / 1e6) : \
           sprintf('%dM', int(v / 1e6 + 0.5))

# y ranges first: per panel, or per column when the rows are phases
multiphase_i = int(multiphase)
array ymin[np]
array ymax[np]
do for [k = 1:np] {
    ymin[k] = 1e300
    ymax[k] = 0
}
set autoscale y
do for [k = 1:np] {
    stats sprintf('%s.%d.tsv', data, k) using 3 nooutput
    slot = multiphase_i ? int(word(pcol, k)) + 1 : k
    ymin[slot] = (STATS_min < ymin[slot]) ? STATS_min : ymin[slot]
    ymax[slot] = (STATS_max > ymax[slot]) ? STATS_max : ymax[slot]
}
do for [k = 1:np] {
    if (ymax[k] > 0) {
        lo = 10.0 ** floor(log10(ymin[k]))
        hi = 10.0 ** ceil(log10(ymax[k] * 2.5))
        ymin[k] = lo
        ymax[k] = (hi / lo < 100) ? lo * 100 : hi
    }
}

set multiplot title title font ',14'
do for [k = 1:np] {
    f = sprintf('%s.%d.tsv', data, k)
    r = int(word(prow, k))
    c = int(word(pcol, k))
    x0 = (c * pw) / (1.0 * W)
    x1 = ((c + 1) * pw) / (1.0 * W)
    y1 = 1 - (top + r * ph) / (1.0 * H)
    y0 = 1 - (top + (r + 1) * ph) / (1.0 * H)
    set lmargin at screen x0 + 100.0 / W
    set rmargin at screen x1 - 20.0 / W
    set tmargin at screen y1 - 34.0 / H
    set bmargin at screen y0 + 36.0 / H
    # y range: whole decades around the panel's values (its column's, when
    # the rows are phases: one op type is then on one scale)
    lo = ymin[multiphase_i ? c + 1 : k]
    hi = ymax[multiphase_i ? c + 1 : k]
    set yrange [lo * 0.999 : hi * 1.001]
    s = int(word(psamp, k))
    note = sprintf('   n ≥ %d%s', s, (s < 100) ? ': p99, p99.9 rough' : (s < 1000) ? ': p99.9 rough' : '')
    if (int(multiphase)) {
        set title sprintf('%s: %s%s', word(pphase, k), word(pop, k), note)
    } else {
        set title sprintf('%s%s', word(pop, k), note)
    }
    plot for [j = 1:nm] f using ($1 == j ? xbar($2, j) : NaN):3:(xbar($2, j) - bw / 2):(xbar($2, j) + bw / 2):(lo):3 \
            with boxxyerror lc rgb word(colors, j) notitle, \
         f using (xbar($2, $1)):($3 * 1.12):(short($3)) with labels rotate by 90 left font ',7' tc rgb '#333333' notitle
}

# the key (one for all panels), subtitle and footnote
unset title
unset ylabel
unset grid
unset logscale
unset border
unset tics
set xrange [0:1]
set yrange [0:1]
set lmargin at screen 0.01
set rmargin at screen 0.99
set tmargin at screen 1 - 64.0 / H
set bmargin at screen 1 - 100.0 / H
set key center center horizontal samplen 2 spacing 1 width 3 font ',12'
set label 1 subtitle . '; n: latency samples of the map with the fewest' at screen 0.5, screen 1 - 50.0 / H center font ',10' tc rgb '#333333'
set label 2 footer at screen 0.006, screen 10.0 / H left font ',8' tc rgb '#555555'
plot for [j = 1:nm] NaN with boxes fs solid 0.9 lc rgb word(colors, j) title word(maps, j)
unset multiplot
