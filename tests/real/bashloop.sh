#!/bin/bash
# Real program: bash running a loop with its state in shell variables and
# an associative array (builtins only: no child processes, no pipes).
# Prints one line per round; the output depends only on the round count.
rounds=${1:-40}
declare -A seen
sum=0 x=1
for ((r = 1; r <= rounds; r++)); do
	for ((i = 0; i < 1500; i++)); do
		((x = (x * 1103515245 + 12345) % 2147483648))
		((sum = (sum + x) % 1000000007))
		k=$((x % 211))
		seen[$k]=$(( ${seen[$k]:-0} + 1 ))
	done
	echo "round $r x=$x sum=$sum keys=${#seen[@]}"
done
total=0
for k in "${!seen[@]}"; do ((total += seen[$k])); done
echo "done: sum=$sum keys=${#seen[@]} total=$total"
