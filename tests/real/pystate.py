#!/usr/bin/python3
"""Real program: a Python interpreter with its state in a dict.

Iterates STEPS steps with a short sleep between them; each step updates a
dict (word counts, a growing list, a running SHA-256) and prints one line.
At the end it prints a summary of the dict.  The output depends only on
the step count, never on timing, so a checkpointed run must print exactly
what an uninterrupted one prints.
"""
import hashlib
import sys
import time

STEPS = int(sys.argv[1]) if len(sys.argv) > 1 else 60
WORDS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel']

state = {'counts': {}, 'hist': [], 'digest': hashlib.sha256(), 'big': {}}
x = 12345
for step in range(1, STEPS + 1):
    for _ in range(2000):
        x = (x * 1103515245 + 12345) % (1 << 31)
        w = WORDS[x % len(WORDS)] + str(x % 97)
        state['counts'][w] = state['counts'].get(w, 0) + 1
    state['big'][step] = [x ^ i for i in range(5000)]       # ~ heap growth
    state['hist'].append(x)
    state['digest'].update(repr(sorted(state['counts'].items())).encode())
    print('step %d x=%d keys=%d sha=%s' % (step, x, len(state['counts']),
                                           state['digest'].hexdigest()[:16]), flush=True)
    time.sleep(0.05)

top = sorted(state['counts'].items(), key=lambda kv: (-kv[1], kv[0]))[:5]
print('summary: steps=%d keys=%d total=%d big=%d sum=%d' % (
    STEPS, len(state['counts']), sum(state['counts'].values()), len(state['big']),
    sum(sum(v) % 1000003 for v in state['big'].values())))
print('top: ' + ', '.join('%s=%d' % kv for kv in top))
print('final sha: ' + state['digest'].hexdigest())
