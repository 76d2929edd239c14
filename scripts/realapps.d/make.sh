# make -j2 of a small C project, dumped while compiling (each unit sleeps in
# a recipe step so the dump finds gcc/sleep children); finishes after restore
# with a working binary.
have_make() { command -v make >/dev/null && command -v gcc >/dev/null; }
mk_check() {
	local pid=$MK_PID
	for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	CHECK_WHY="binary: '$("$W/mk/prog" 2>&1)'"
	[ "$("$W/mk/prog")" = "sum 210" ]
}
run_make() {
	local m
	for m in plain predump leave; do
		rm -rf "$W/mk"; mkdir -p "$W/mk"
		local objs=
		for i in $(seq 1 20); do
			echo "int f$i(void) { return $i; }" > "$W/mk/f$i.c"; objs="$objs f$i.o"
		done
		{ for i in $(seq 1 20); do echo "int f$i(void);"; done
		  echo '#include <stdio.h>'; echo 'int main(void) { int s = 0;'
		  for i in $(seq 1 20); do echo "s += f$i();"; done
		  echo 'printf("sum %d\n", s); return 0; }'; } > "$W/mk/main.c"
		printf 'prog: main.o%s\n\tgcc -o $@ $^\n%%.o: %%.c\n\tsleep 0.3\n\tgcc -c -o $@ $<\n' "$objs" > "$W/mk/Makefile"
		( cd "$W/mk" && exec setsid make -j2 >make.log 2>&1 </dev/null ) &
		MK_PID=$!
		sleep 1.5
		cycle make "-j2 compiling" $m $MK_PID mk_check -- || true
		kill_tree $MK_PID
	done
}
