# Per-program kernel time between two hook_toggle "stats" lines:
#   awk -v b="BEFORE" -v a="AFTER" -v ops=N -v op=NAME -f bench/progcost.awk
# Prints each program's runs per operation (OPS operations of kind NAME)
# and ns a run (kernel.bpf_stats_enabled), and the sum. The empty programs
# (nop_TYPE) measure the floor any program of that attach type pays a run
# (the kernel's dispatch and the accounting itself): the "above the floor"
# figure subtracts it from each program's runs.
BEGIN {
	n = split(b, bb, " "); split(a, aa, " ")
	for (i = 2; i <= n; i++) {
		split(bb[i], x, "[@=/]"); split(aa[i], y, "[@=/]")
		name[i] = x[1]; type[i] = x[2]
		runs[i] = y[3] - x[3]; ns[i] = y[4] - x[4]
		if (x[1] ~ /^nop_/ && runs[i] > 0)
			floor[x[2]] = ns[i] / runs[i]
	}
	for (i = 2; i <= n; i++) {
		if (runs[i] <= 0) {
			idle = idle " " name[i]
			continue
		}
		printf "    %-16s %-9s %6.1f runs a %s  %5.0f ns a run  %6.0f ns a %s\n", name[i], "(" type[i] ")", \
			runs[i] / ops, op, ns[i] / runs[i], ns[i] / ops, op
		if (name[i] ~ /^nop_/)
			continue
		tot += ns[i]
		above += ns[i] - runs[i] * floor[type[i]]
	}
	if (idle != "")
		printf "    (did not run:%s)\n", idle
	printf "    toolguard's programs: %.0f ns a %s; %.0f ns above the empty programs' floor\n", tot / ops, op, above / ops
}
