"""scripts/bench migrate: live migration between two hosts.

Three network namespaces (tests/runner/mignet.py): src and dst stand for
the two hosts, cli for a client and the router between them.  The service
is tests/progs/mem_migrate --serve: --mib of private memory (1 GiB), a 10%
hot set rewritten at a steady rate (--rate pages a millisecond) and a cold
page now and then, echoing the bytes of one TCP connection from cli to the
service address, which moves with the tree (the destination's action
script).  The client sends a byte every millisecond and times the echoes.

Each mode runs `cryo migrate --listen` in dst and `cryo migrate -t PID --to
DST:PORT --tcp-established` in src.  Reported per mode:

  switch     the gap between two echoes around the final dump's freeze
             (the last reply before it to the first one from the
             destination); cryo's own figure next to it: from the final
             dump's start to the destination's answer that the tree runs
             (the echo gap adds the client's retransmission backoff)
  longest    the longest gap between two echoes from the source's start
             on: the pre-copy iterations freeze the tree too (cryo's
             pre-dump copies the pages while it is frozen), shown next to
             it (each pre-dump's freeze to release)
  total      from the source's start until both ends exited (with
             post-copy: until the destination's daemon had every page)
  sent       bytes src sent on its veth (images, pages, everything), and
             that over the memory size
  iters      pre-copy iterations
  after the freeze   when the switch-over's steps were reached, in ms from
             the final dump's freeze (the logs of both ends on one clock):
             the images committed (the source's frozen work), sent, the
             destination's restore started (its lazy-pages daemon ready),
             the tree released, the network unlocked, and the client's
             first reply

Modes: plain (--max-iterations 0: one dump, copied, restored), precopy
(iterations until 70% of the pages stay unchanged), postcopy
(--max-iterations 0 --lazy-pages), both (pre-copy, then --lazy-pages).
After each, the restored service gets SIGTERM and must pass its check of
every byte.  --network-lock (both ends; nftables by default here: its
unlock at the destination takes ~5 ms where iptables-restore takes
~120-160 ms, all of it downtime)."""

import os
import shutil

import mignet

MODES = {
    'plain': ['--max-iterations', '0'],
    'precopy': [],
    'postcopy': ['--max-iterations', '0', '--lazy-pages'],
    'both': ['--lazy-pages'],
}

BenchError = mignet.NetError


def main(a, modes):
    prog = os.path.join(a.build, 'tests', 'progs', 'mem_migrate')
    if not os.access(prog, os.X_OK):
        raise BenchError('%s not found: build first' % prog)
    work = os.path.join(a.dir, 'migrate')
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    net = mignet.Net()
    net.setup()
    results, failed = [], True
    try:
        print('migrate: %d MiB, 10%% hot, %d pages/ms written, network lock %s; downtime = '
              'longest echo gap' % (a.mib, a.rate, a.network_lock), flush=True)
        for m in modes:
            d = os.path.join(work, m)
            lock = ['--network-lock', a.network_lock]
            r = mignet.migrate_once(net, a.cryo, prog, d, a.mib * 256, a.rate, MODES[m] + lock,
                                    dest_extra=lock, log_level='-v4')
            mignet.verdict(r['restored'], r['outfile'])
            r.update(mode=m, mib=a.mib)
            results.append(r)
            pre = r['predump_freeze_ms']
            print('%-9s switch %6.1f ms (cryo %s ms)  longest gap %6.1f ms  pre-dump freezes %s  '
                  'total %5.2f s  sent %6.1f MiB (%.2fx)  iterations %d' % (
                      m, r['switch_ms'] or -1, r['pause_ms'], r['downtime_ms'] or -1,
                      '/'.join('%.0f' % x for x in pre) + ' ms' if pre else '-', r['total_s'],
                      r['sent_bytes'] / 2**20, r['sent_bytes'] / (a.mib * 2**20),
                      r['iterations']), flush=True)
            if r.get('split'):
                # where the switch-over's time goes, ms after the final freeze
                print('%-9s   after the freeze: %s' % ('', ', '.join(
                    '%s %.1f' % (k, r['split'][k]) for k, _, _ in mignet.SPLIT + (('reply', 0, 0),)
                    if k in r['split'])), flush=True)
            shutil.rmtree(d, ignore_errors=True)
        failed = False
    finally:
        net.teardown()
        if failed:	# the failed mode's images and logs stay for a look
            print('migrate: images and logs kept in %s' % work, flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return results
