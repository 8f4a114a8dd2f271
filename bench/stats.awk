# Ratios from alternating rounds, for the run-*-bench.sh scripts:
#   awk -v label=NAME -v target=PCT -v unit=NAME -f bench/stats.awk ROUNDS_FILE
# ROUNDS_FILE: one "A VALUE" (without) or "B VALUE" (with) line a round, in
# blocks of four (A B B A or B A A B), so a machine that speeds up or slows
# down during a block affects both sides alike. A block's ratio is
# (B1 + B2) / (A1 + A2); printed: the median of the block ratios, their
# quartiles and extremes, the medians of the rounds, and whether the
# median ratio meets the target (at most +PCT%).
function pctile(arr, n, p,    pos, lo) {
	pos = 1 + (n - 1) * p
	lo = int(pos)
	return lo >= n ? arr[n] : arr[lo] + (pos - lo) * (arr[lo + 1] - arr[lo])
}
function sort_n(arr, n,    i, j, t) { # insertion sort (n is small)
	for (i = 2; i <= n; i++) {
		t = arr[i]
		for (j = i - 1; j >= 1 && arr[j] > t; j--)
			arr[j + 1] = arr[j]
		arr[j + 1] = t
	}
}
$1 == "A" || $1 == "B" {
	if ($1 == "A") { sa += $2; na++; a[++nall_a] = $2 } else { sb += $2; nb++; b[++nall_b] = $2 }
	if (na == 2 && nb == 2) {
		r[++nr] = sb / sa
		sa = sb = na = nb = 0
	}
}
END {
	if (nr == 0) {
		printf "  %s: no complete block of rounds\n", label
		exit 1
	}
	sort_n(r, nr); sort_n(a, nall_a); sort_n(b, nall_b)
	med = pctile(r, nr, 0.5)
	ma = pctile(a, nall_a, 0.5); mb = pctile(b, nall_b, 0.5)
	verdict = (med - 1) * 100 <= target + 0 ? "MET" : "NOT MET"
	printf "  %s: %.0f -> %.0f %s (medians of %d rounds each)\n", label, ma, mb, unit, nall_a
	printf "    ratio %.3f (%+.1f%%)  quartiles %.3f..%.3f  min %.3f max %.3f  (%d blocks)%s\n", \
		med, (med - 1) * 100, pctile(r, nr, 0.25), pctile(r, nr, 0.75), r[1], r[nr], nr, \
		target == "" ? "" : sprintf("  target +%s%%: %s", target, verdict)
}
