#!/usr/bin/perl
# Real program: a long perl run with its state in hashes and arrays.  Each
# step generates text, counts words, keeps a running digest, prints one
# line, and sleeps 30 ms in select() (an interrupted select must be
# restarted, not reported).  The output depends only on the step count.
use strict;
use warnings;
use Digest::MD5;
$| = 1;
my $steps = shift // 50;
my (%freq, @lens);
my $md5 = Digest::MD5->new;
my $x = 42;
my @syl = qw(ka lo mi nu po ra se ti vu ze);
for my $step (1 .. $steps) {
	for (1 .. 1500) {
		$x = ($x * 1103515245 + 12345) % 2147483648;
		my $w = $syl[$x % 10] . $syl[($x >> 4) % 10] . $syl[($x >> 8) % 10];
		$freq{$w}++;
		push @lens, length($w) + ($x % 3);
	}
	$md5->add(join(',', map { "$_=$freq{$_}" } sort keys %freq));
	printf "step %d words=%d n=%d md5=%s\n", $step, scalar(keys %freq), scalar(@lens),
		substr(Digest::MD5->new->add($md5->clone->hexdigest)->hexdigest, 0, 12);
	select(undef, undef, undef, 0.03);
}
my @top = (sort { $freq{$b} <=> $freq{$a} or $a cmp $b } keys %freq)[0 .. 4];
printf "top: %s\n", join(' ', map { "$_=$freq{$_}" } @top);
my $tot = 0; $tot += $_ for @lens;
printf "done: words=%d total_len=%d md5=%s\n", scalar(keys %freq), $tot, $md5->hexdigest;
