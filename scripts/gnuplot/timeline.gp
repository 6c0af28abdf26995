# scripts/gnuplot/timeline.gp: one run (map x threads, one repeat) over time:
# throughput on y1, table size and map size on y2, resizes marked, every
# phase in time order (warmup shaded, boundaries marked).  Driven by
# scripts/plot, which sets these variables (strings) with gnuplot -e:
#
#   out, term      output PNG; terminal (pngcairo, or png)
#   fmops          rows "t  Mops": the ends of each sampling interval, so
#                  that lines draw the interval's throughput as a step
#   fsize          rows "t  table_size  size" (NaN: not reported)
#   fresize        rows "t  table_size  resizes_in_the_interval" where the
#                  resize counter grew
#   title, footer, color (the map's), mapname
#   starts, ends, pnames, pmeasure   words, one per phase: start and end
#                  time (s), name, 1 when measured
#   has_mops, has_table, has_size    1 when the file has such data
#   y2log          1: log scale on y2;  nresize: resizes in the run
#   nmulti         rows of fresize with more than one resize (0: no "×N"
#                  labels are plotted - gnuplot 5.4.4 segfaults plotting
#                  labels whose every point is undefined)

set encoding utf8
W = 1120
H = 600
if (term eq 'pngcairo') {
    eval sprintf("set terminal pngcairo size %d,%d noenhanced font 'DejaVu Sans,11'", W, H)
} else {
    eval sprintf("set terminal png size %d,%d noenhanced", W, H)
}
set output out

set xlabel 'time since the first phase started (s)'
set ylabel 'throughput (Mops/s per sampling interval)' tc rgb color
set ytics nomirror tc rgb color
set border 11
set grid xtics ytics lc rgb '#e8e8e8'

ymax = 1
if (int(has_mops)) {
    stats fmops using 2 nooutput
    ymax = (STATS_max > 0) ? STATS_max : 1
}
nph = words(starts)
t_end = real(word(ends, nph))
set xrange [0 : t_end]
ytop = ymax * 1.22                  # room for the phase names
set yrange [0 : ytop]

y2on = int(has_table) || int(has_size)
if (y2on) {
    set y2tics nomirror
    set y2label 'table size (bins) · map size (entries)'
    if (int(y2log)) {
        set logscale y2 10
        set format y2 '%.0s%c'
        set my2tics 10
    } else {
        set y2range [0 : *]
        set format y2 '%.1s%c'
    }
}

# phases: warmup (not measured) shaded, boundaries, names at the top
do for [i = 1:nph] {
    s = real(word(starts, i))
    e = real(word(ends, i))
    if (!int(word(pmeasure, i))) {
        set object i rect from s, graph 0 to e, graph 1 behind fc rgb '#eeeeee' fs solid 1.0 noborder
    }
    if (i > 1) {
        set arrow i from s, graph 0 to s, graph 1 nohead lc rgb '#555555' lw 1.5 dt 2
    }
    # the name across the top, or down the boundary when the phase is narrow
    name = word(pnames, i)
    wpx = (e - s) / t_end * (W - 170)
    if (strlen(name) * 7 + 12 < wpx) {
        set label i name at s, graph 0.97 left offset 0.6, 0 font ',10' tc rgb '#333333'
    } else {
        set label i name at s, graph 0.98 right rotate by 90 offset 1.1, 0 font ',9' tc rgb '#333333'
    }
}
set label 100 footer at screen 0.006, screen 0.018 left font ',8' tc rgb '#555555'

# title, then the key under it, above the plot
set label 102 title at screen 0.5, screen 1 - 22.0 / H center font ',13'
set key at screen 0.5, screen 1 - 52.0 / H center center horizontal maxrows 1 samplen 2 width 0 font ',10'
set tmargin at screen 1 - 72.0 / H
set bmargin at screen 72.0 / H
set lmargin at screen 80.0 / W
set rmargin at screen 1 - 90.0 / W
if (!int(has_table)) {
    set label 103 sprintf('%s reports no table size%s', mapname, int(nresize) > 0 ? '' : ' and no resizes') \
        at graph 0.99, graph 0.04 right font ',9' tc rgb '#555555' front
} else {
    if (int(nresize) == 0) {
        set label 103 'no resize in this run' at graph 0.99, graph 0.04 right font ',9' tc rgb '#555555' front
    }
}

cmd = 'plot '
sep = ''
nwarm = 0
do for [i = 1:nph] {
    nwarm = nwarm + (int(word(pmeasure, i)) ? 0 : 1)
}
if (int(has_mops)) {
    cmd = cmd . sep . sprintf("'%s' using 1:2 with lines lw 2 lc rgb '%s' title '%s Mops/s'", fmops, color, mapname)
    sep = ', '
}
if (int(has_table)) {
    cmd = cmd . sep . sprintf("'%s' using 1:2 axes x1y2 with steps lw 2 lc rgb '#222222' dt 1 title 'table size'", fsize)
    sep = ', '
}
if (int(has_size)) {
    cmd = cmd . sep . sprintf("'%s' using 1:3 axes x1y2 with lines lw 1.5 lc rgb '#8a8a8a' dt 3 title 'map size'", fsize)
    sep = ', '
}
if (int(nresize) > 0) {
    rtitle = sprintf('resizes (%d)', int(nresize))
    cmd = cmd . sep . sprintf("'%s' using 1:(ytop) with impulses lw 1 lc rgb '#C00000' dt 3 title '%s'", fresize, rtitle)
    if (int(has_table)) {
        # a dot on the table size line; "×N" beside it when one sampling
        # interval saw N > 1 resizes
        cmd = cmd . sprintf(", '%s' using 1:($2 > 0 ? $2 : NaN) axes x1y2 with points pt 7 ps 0.8 lc rgb '#C00000' notitle", fresize)
        if (int(nmulti) > 0) {
            cmd = cmd . sprintf(", '%s' using 1:($3 > 1 && $2 > 0 ? $2 : NaN):(sprintf('×%%d', $3)) axes x1y2 with labels left offset 0.4, -0.7 font ',8' tc rgb '#C00000' notitle", fresize)
        }
    } else {
        if (int(nmulti) > 0) {
            cmd = cmd . sprintf(", '%s' using 1:($3 > 1 ? ytop * 0.93 : NaN):(sprintf('×%%d', $3)) with labels left offset 0.3, 0 font ',8' tc rgb '#C00000' notitle", fresize)
        }
    }
    sep = ', '
}
if (nwarm > 0) {
    cmd = cmd . sep . "NaN with boxes fs solid 1.0 noborder fc rgb '#e4e4e4' title 'not measured'"
    sep = ', '
}
if (!int(has_mops) && !y2on && int(nresize) == 0) {
    # nothing to draw: an empty frame that says so
    set label 101 'no timeline samples in this run' at graph 0.5, graph 0.5 center
    cmd = 'plot NaN notitle'
}
eval cmd
