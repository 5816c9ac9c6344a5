# SPDX-License-Identifier: MIT
"""Stress and exclusivity: several lockd daemons on one lock directory,
many clients on a few hot resources, and lockstress's checker proving from
the recorded history that no two holders overlapped and that no
acknowledged operation was lost (see lockstress.py for the rules).

The checker's own self-test runs first, and a last run on a deliberately
broken setup (two daemons, a lock directory each) must fail with overlaps,
so a checker that cannot fail cannot make this suite pass.  Each run must
also reach a minimum number of operations, grants and releases, so that it
cannot pass vacuously.

LOCKD_STRESS_SECONDS (default 10) sets the length of each run.
"""
import importlib.util
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'rpc'))
import harness  # noqa: E402


def _load_lockstress():
    spec = importlib.util.spec_from_file_location(
        'lockstress', os.path.join(HERE, 'lockstress.py'))
    mod = importlib.util.module_from_spec(spec)
    sys.modules['lockstress'] = mod
    spec.loader.exec_module(mod)
    return mod


lockstress = _load_lockstress()

SECONDS = float(os.environ.get('LOCKD_STRESS_SECONDS', '10'))
MIN_OPS = 200           # the slowest runs seen did ~4000 in 10 s
MIN_GRANTS = 20


class Stress(unittest.TestCase):

    def test_0_checker_self_test(self):
        """The checker reports a synthetic overlap, lost grants and
        releases, inconsistent refusals and disagreeing daemons, and
        nothing in a clean history."""
        failures = lockstress.self_test()
        self.assertEqual(failures, [], '\n'.join(failures))

    def stress(self, **kw):
        r = lockstress.run(lockd=harness.lockd_path(), seconds=SECONDS,
                           log=lambda m: print(m, flush=True), **kw)
        print(lockstress.format_result(r), flush=True)
        self.assertEqual(r['daemon_failures'], 0,
                         'daemon exit statuses %s' % r['daemon_exit'])
        for k in ('overlaps', 'lost', 'errors', 'inconsistent_refusals',
                  'disagreements', 'stray_files'):
            self.assertEqual(r[k], 0, '%s: %s' % (k, r['examples']))
        self.assertGreater(r['operations'], MIN_OPS)
        self.assertGreater(r['grants'], MIN_GRANTS)
        self.assertGreater(r['releases'], MIN_GRANTS)
        self.assertGreater(r['refused_held'], 0)
        self.assertTrue(all(n > 0 for n in r['per_daemon_ops']),
                        'every daemon served: %s' % r['per_daemon_ops'])
        self.assertTrue(r['ok'])
        return r

    def test_1_two_daemons_durable(self):
        """2 daemons (sync on, the default), 8 clients, 4 resources."""
        self.stress(daemons=2, clients=8, resources=4)

    def test_2_three_daemons_no_sync(self):
        """3 daemons with --no-sync (faster, more races), 16 clients, 8
        resources."""
        self.stress(daemons=3, clients=16, resources=8, no_sync=True)

    def test_3_checker_catches_split_brain(self):
        """The checker on real traffic of a broken setup: two daemons
        with a lock directory each grant one resource twice, and the run
        must fail with overlaps."""
        r = lockstress.run(lockd=harness.lockd_path(), seconds=3,
                           daemons=2, clients=8, resources=4, no_sync=True,
                           split_brain=True)
        print('split brain (must fail): %d operations, %d overlaps, %d '
              'lost, %d inconsistent refusals, %d disagreements'
              % (r['operations'], r['overlaps'], r['lost'],
                 r['inconsistent_refusals'], r['disagreements']),
              flush=True)
        self.assertGreater(r['operations'], MIN_OPS)
        self.assertGreater(r['overlaps'], 0)
        self.assertFalse(r['ok'])
        self.assertEqual(r['daemon_failures'], 0)


if __name__ == '__main__':
    sys.exit(harness.main())
