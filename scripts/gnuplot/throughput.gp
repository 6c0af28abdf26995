# scripts/gnuplot/throughput.gp: Mops/s vs thread count, one line per map,
# one panel per measured phase.  Driven by scripts/plot, which sets these
# variables (strings) with gnuplot -e:
#
#   out, term     output PNG; terminal (pngcairo, or png when cairo is missing)
#   data          panel i (1, 2, ...) reads data.'.'.i.'.tsv': one block per
#                 map, in the order of `maps`, two blank lines apart, rows
#                 "threads  median_Mops  min_Mops  max_Mops  repeats"
#   title, footer the chart's title and footnote (file, tool, host)
#   maps, colors, points   words: map names, colours (#rrggbb), point types
#   phases        words: the measured phases, one panel each
#   xtics_list    words: the thread counts (x tics)
#   ymax          largest Mops/s in the file (the panels share the y range)

set encoding utf8
np = words(phases)
nm = words(maps)
cols = (np < 3) ? np : 3
rows = int((np + cols - 1) / cols)
pw = (np == 1) ? 960 : 560        # pixels per panel
ph = (np == 1) ? 560 : 420
top = 80                          # title and key
bot = 28                          # footnote
W = cols * pw
H = rows * ph + top + bot
if (term eq 'pngcairo') {
    eval sprintf("set terminal pngcairo size %d,%d noenhanced font 'DejaVu Sans,11'", W, H)
} else {
    eval sprintf("set terminal png size %d,%d noenhanced", W, H)
}
set output out

# x: the thread counts; log2 when they span a factor of 8 or more
nt = words(xtics_list)
tmin = real(word(xtics_list, 1))
tmax = real(word(xtics_list, nt))
xlog = (tmax / tmin >= 8) ? 1 : 0
set xtics ()
do for [i = 1:nt] {
    eval sprintf("set xtics add ('%s' %s)", word(xtics_list, i), word(xtics_list, i))
}
set mxtics 1
if (xlog) {
    set logscale x 2
    set xrange [tmin / 1.35 : tmax * 1.35]
} else {
    if (nt == 1) {
        set xrange [tmin - 1 : tmin + 1]
    } else {
        d = (tmax - tmin) * 0.08
        set xrange [tmin - d : tmax + d]
    }
}
# maps side by side around each thread count, so the bars do not overlap
dodge(x, j) = xlog ? x * 2 ** ((j - (nm + 1) / 2.0) * 0.035) \
                   : x + (j - (nm + 1) / 2.0) * ((nt == 1) ? 0.06 : (tmax - tmin) * 0.012)

ymaxv = real(ymax)
set yrange [0 : ymaxv * 1.12]
set ytics nomirror
set xtics nomirror
set border 3
set grid ytics lc rgb '#dddddd' dt 1
set xlabel 'threads'
set ylabel 'throughput (Mops/s)'
unset key
set style line 100 lc rgb '#000000'

set multiplot title title font ',14'
do for [i = 1:np] {
    r = int((i - 1) / cols)
    c = (i - 1) % cols
    x0 = (c * pw) / (1.0 * W)
    x1 = ((c + 1) * pw) / (1.0 * W)
    y1 = 1 - (top + r * ph) / (1.0 * H)
    y0 = 1 - (top + (r + 1) * ph) / (1.0 * H)
    set lmargin at screen x0 + 80.0 / W
    set rmargin at screen x1 - 25.0 / W
    set tmargin at screen y1 - 40.0 / H
    set bmargin at screen y0 + 66.0 / H
    set title sprintf('phase "%s"', word(phases, i))
    f = sprintf('%s.%d.tsv', data, i)
    plot for [j = 1:nm] f index (j - 1) using (dodge($1, j)):2:3:4 \
            with yerrorlines lw 2 ps 1.4 pt int(word(points, j)) lc rgb word(colors, j) notitle
}

# the key (one for all panels) and the footnote
unset title
unset xlabel
unset ylabel
unset grid
unset logscale
unset border
unset tics
set xrange [0:1]
set yrange [0:1]
set lmargin at screen 0.01
set rmargin at screen 0.99
set tmargin at screen 1 - 38.0 / H
set bmargin at screen 1 - 74.0 / H
set key center center horizontal samplen 3 spacing 1 width 3 font ',12'
set label 1 footer at screen 0.006, screen 10.0 / H left font ',8' tc rgb '#555555'
plot for [j = 1:nm] NaN with linespoints lw 2 ps 1.4 pt int(word(points, j)) \
        lc rgb word(colors, j) title word(maps, j)
unset multiplot
