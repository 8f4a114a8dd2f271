# Benchmarks: built by `make bench-programs`, run by bench/run-bench.sh (root).
EXTRA_PROGRAMS = bench/exec_loop bench/connect_loop
bench_exec_loop_SOURCES = bench/exec_loop.c
bench_connect_loop_SOURCES = bench/connect_loop.c
CLEANFILES += $(EXTRA_PROGRAMS)
EXTRA_DIST += bench/run-bench.sh bench/README.md
.PHONY: bench bench-programs
bench-programs: $(EXTRA_PROGRAMS)
bench: bench-programs all
	$(SHELL) $(top_srcdir)/bench/run-bench.sh
