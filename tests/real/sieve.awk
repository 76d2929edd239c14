# Real program: a long gawk run.  Sieves primes in blocks, keeping the
# primes found so far in an array, and prints one line per block (fflush:
# stdout is a file).  The output depends only on the block count.
BEGIN {
	blocks = (nblocks ? nblocks : 40); size = 20000
	np = 0; sum = 0
	for (b = 0; b < blocks; b++) {
		lo = b * size; hi = lo + size
		delete comp
		for (i = 1; i <= np && p[i] * p[i] < hi; i++) {
			q = p[i]; s = int((lo + q - 1) / q) * q; if (s < q * q) s = q * q
			for (m = s; m < hi; m += q) comp[m] = 1
		}
		for (n = (lo < 2 ? 2 : lo); n < hi; n++)
			if (!(n in comp)) { p[++np] = n; sum = (sum + n * np) % 1000000007 }
		printf "block %d primes=%d last=%d sum=%d\n", b + 1, np, p[np], sum
		fflush()
	}
	printf "done: %d primes below %d, sum=%d\n", np, blocks * size, sum
}
