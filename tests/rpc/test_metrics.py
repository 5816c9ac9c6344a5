# SPDX-License-Identifier: MIT
"""GET /metrics (Prometheus text format 0.0.4) and GET /healthz of the
real daemon: the format, parsed strictly; counters that move with the
calls made through XML-RPC; health under a broken lock directory; the
allow-list; and XML-RPC on / and /RPC2 left exactly as it was."""
import http.client
import math
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request
import xmlrpc.client

from harness import (HOST, ConfTestCase, Daemon, LockdTestCase, SharedDaemon, http_request,
                     main, parse_http, raw_http)
from harness import (FAULT_AUTH, FAULT_CLIENT, FAULT_DELAYED, FAULT_DENIED,
                     FAULT_HELD, FAULT_NOT_LOCKED, FAULT_NOT_OWNER,
                     FAULT_NO_LEASE, FAULT_RESOURCE, FAULT_STALE_TOKEN,
                     FAULT_STORAGE)

ROOT = os.geteuid() == 0
METRICS_TYPE = 'text/plain; version=0.0.4; charset=utf-8'
REASONS = {'held', 'not_owner', 'not_locked', 'bad_resource', 'bad_client',
           'delayed', 'stale_token', 'no_lease', 'too_many_waiters',
           'bad_argument', 'invalid_state', 'cancelled'}
FAMILIES = {
    'lockd_up': 'gauge',
    'lockd_start_time_seconds': 'gauge',
    'lockd_grants_total': 'counter',
    'lockd_reacquires_total': 'counter',
    'lockd_releases_total': 'counter',
    'lockd_refusals_total': 'counter',
    'lockd_waits_total': 'counter',
    'lockd_waiting': 'gauge',
    'lockd_wait_seconds': 'histogram',
    'lockd_breaks_total': 'counter',
    'lockd_expiries_total': 'counter',
    'lockd_renewals_total': 'counter',
    'lockd_storage_errors_total': 'counter',
    'lockd_history_lost_total': 'counter',
    'lockd_request_duration_seconds': 'histogram',
    'lockd_locks_held': 'gauge',
}
# Absent until the store's background scan has counted once.
OPTIONAL = {'lockd_locks_held'}
Fault = xmlrpc.client.Fault

# urllib without the environment's proxies: every request goes to lockd.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get(port, path, method='GET', data=None, timeout=10):
    """(status, headers, body) of METHOD PATH; errors are answers too."""
    req = urllib.request.Request('http://%s:%d%s' % (HOST, port, path),
                                 data=data, method=method)
    try:
        with _opener.open(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.headers, e.read()


def health(port, path='/healthz'):
    """(status, body) of GET PATH."""
    st, _, body = get(port, path)
    return st, body


# -- a strict parser of the text format 0.0.4 ---------------------------------
class FormatError(ValueError):
    pass


_NAME = r'[a-zA-Z_:][a-zA-Z0-9_:]*'
_SAMPLE_RE = re.compile(r'^(%s)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$' % _NAME)
_LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"'
                       r'(,|$)')
_TYPES = {'counter', 'gauge', 'histogram', 'summary', 'untyped'}


def _value(text):
    if text in ('+Inf', 'Inf'):
        return math.inf
    if text == '-Inf':
        return -math.inf
    if text == 'NaN':
        return math.nan
    if not re.fullmatch(r'[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?', text):
        raise FormatError('not a number: %r' % text)
    return float(text)


def _labels(text):
    out = {}
    pos = 0
    while pos < len(text):
        m = _LABEL_RE.match(text, pos)
        if m is None:
            raise FormatError('bad labels at %r' % text[pos:])
        name, raw = m.group(1), m.group(2)
        if name in out:
            raise FormatError('label %s twice' % name)
        out[name] = re.sub(r'\\(.)', lambda e: {'n': '\n'}.get(e.group(1),
                                                                e.group(1)),
                           raw)
        pos = m.end()
    return out


def _family_of(sample, families):
    """The family SAMPLE's name belongs to, by the suffix rules."""
    for fam, f in families.items():
        t = f['type']
        if sample == fam and t in ('counter', 'gauge', 'untyped',
                                   'summary'):
            return fam
        if t in ('histogram', 'summary') and sample in (fam + '_sum',
                                                        fam + '_count'):
            return fam
        if t == 'histogram' and sample == fam + '_bucket':
            return fam
    return None


def parse_exposition(text):
    """{family: {'type', 'help', 'samples': [(name, labels, value)]}} of
    TEXT, or FormatError: every sample must follow its family's # TYPE; a
    family's lines are contiguous; no series twice; histograms have
    cumulative buckets ending in +Inf equal to _count, and a _sum."""
    if not text.endswith('\n'):
        raise FormatError('the text does not end with a newline')
    families = {}
    current = None
    closed = set()
    series = set()
    for n, line in enumerate(text.split('\n')[:-1], 1):
        where = 'line %d %r' % (n, line)
        if line == '':
            continue
        if line.startswith('#'):
            parts = line.split(' ', 3)
            if len(parts) >= 3 and parts[1] in ('HELP', 'TYPE'):
                if not re.fullmatch(_NAME, parts[2]):
                    raise FormatError('bad name: ' + where)
                fam = families.setdefault(parts[2], {
                    'type': None, 'help': None, 'samples': []})
                if parts[2] in closed or (current not in (None, parts[2])
                                          and fam['samples']):
                    raise FormatError('family not contiguous: ' + where)
                if current != parts[2] and current is not None:
                    closed.add(current)
                current = parts[2]
                key = parts[1].lower()
                if fam[key] is not None:
                    raise FormatError('second %s: %s' % (parts[1], where))
                if fam['samples']:
                    raise FormatError('%s after samples: %s'
                                      % (parts[1], where))
                value = parts[3] if len(parts) == 4 else ''
                if key == 'type' and value not in _TYPES:
                    raise FormatError('bad type: ' + where)
                fam[key] = value
            continue
        m = _SAMPLE_RE.match(line)
        if m is None:
            raise FormatError('not a sample: ' + where)
        name, labels = m.group(1), _labels(m.group(2) or '')
        value = _value(m.group(3))
        typed = {k: f for k, f in families.items() if f['type']}
        fam = _family_of(name, typed)
        if fam is None:
            raise FormatError('sample of no # TYPE\'d family: ' + where)
        if fam != current or fam in closed:
            raise FormatError('family not contiguous: ' + where)
        key = (name, tuple(sorted(labels.items())))
        if key in series:
            raise FormatError('series twice: ' + where)
        series.add(key)
        if name.endswith('_bucket') and families[fam]['type'] == \
                'histogram' and 'le' not in labels:
            raise FormatError('bucket without le: ' + where)
        families[fam]['samples'].append((name, labels, value))
    for fam, f in families.items():
        if f['type'] is None:
            raise FormatError('%s has # HELP but no # TYPE' % fam)
        if f['type'] == 'counter':
            for s in f['samples']:
                if not s[2] >= 0:
                    raise FormatError('negative counter %r' % (s,))
        if f['type'] == 'histogram':
            _check_histogram(fam, f['samples'])
    return families


def _check_histogram(fam, samples):
    groups = {}
    for name, labels, value in samples:
        rest = tuple(sorted((k, v) for k, v in labels.items() if k != 'le'))
        g = groups.setdefault(rest, {'buckets': [], 'sum': None,
                                     'count': None})
        if name == fam + '_bucket':
            g['buckets'].append((_value(labels['le']), value))
        elif name == fam + '_sum':
            g['sum'] = value
        elif name == fam + '_count':
            g['count'] = value
    for rest, g in groups.items():
        b = g['buckets']
        if not b or g['sum'] is None or g['count'] is None:
            raise FormatError('%s%r: buckets, _sum and _count needed'
                              % (fam, rest))
        if [le for le, _ in b] != sorted(le for le, _ in b) or \
                len({le for le, _ in b}) != len(b):
            raise FormatError('%s: buckets not in increasing le' % fam)
        if b[-1][0] != math.inf:
            raise FormatError('%s: the last bucket is not +Inf' % fam)
        for (_, lo), (_, hi) in zip(b, b[1:]):
            if hi < lo:
                raise FormatError('%s: buckets not cumulative' % fam)
        if b[-1][1] != g['count']:
            raise FormatError('%s: +Inf bucket %g != _count %g'
                              % (fam, b[-1][1], g['count']))
        if not g['sum'] >= 0:
            raise FormatError('%s: negative _sum' % fam)


def sample(fams, name, **labels):
    """The value of series NAME{LABELS}; KeyError if absent."""
    for f in fams.values():
        for n, lab, v in f['samples']:
            if n == name and lab == labels:
                return v
    raise KeyError('%s%r not exposed' % (name, labels))


# -- tests ---------------------------------------------------------------------
class ParserTest(unittest.TestCase):
    """The parser itself refuses what it must (else the tests prove
    nothing)."""

    GOOD = ('# HELP a_total A.\n# TYPE a_total counter\na_total 3\n'
            '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\n'
            'h_sum 0.5\nh_count 2\n')

    def test_accepts_good_text(self):
        fams = parse_exposition(self.GOOD)
        self.assertEqual(sample(fams, 'a_total'), 3)
        self.assertEqual(sample(fams, 'h_bucket', le='+Inf'), 2)

    def test_refuses_bad_texts(self):
        bad = [
            self.GOOD[:-1],                                 # no final \n
            'x 1\n',                                        # untyped family
            '# TYPE a counter\na 1\na 2\n',                 # series twice
            '# TYPE a counter\na -1\n',                     # negative
            '# TYPE a counter\na one\n',                    # value
            '# TYPE a counter\na{l="x} 1\n',                # label
            '# TYPE a counter\n# TYPE b gauge\nb 1\na 1\n',  # interleaved
            '# TYPE a counter\na 1\n# TYPE a counter\n',    # TYPE twice
            '# TYPE a sometype\na 1\n',                     # unknown type
            '# TYPE h histogram\nh_bucket{le="1"} 2\n'      # not cumulative
            'h_bucket{le="+Inf"} 1\nh_sum 0\nh_count 1\n',
            '# TYPE h histogram\nh_bucket{le="1"} 1\n'      # no +Inf
            'h_sum 0\nh_count 1\n',
            '# TYPE h histogram\nh_bucket{le="+Inf"} 2\n'   # +Inf != count
            'h_sum 0\nh_count 1\n',
            '# TYPE h histogram\nh_bucket{le="+Inf"} 1\n'   # no _sum
            'h_count 1\n',
        ]
        for text in bad:
            with self.assertRaises(FormatError, msg=text):
                parse_exposition(text)


def scrape(d):
    """The parsed /metrics of daemon D (asserting the response)."""
    st, h, body = get(d.port, '/metrics')
    if st != 200:
        raise AssertionError('GET /metrics: %d %r' % (st, body[:300]))
    return parse_exposition(body.decode('utf-8'))


class Endpoints(SharedDaemon, LockdTestCase):
    """One daemon: format, headers, methods, paths, XML-RPC untouched."""

    def test_metrics_format_and_headers(self):
        t0 = time.time()
        st, h, body = get(self.daemon.port, '/metrics')
        self.assertEqual(st, 200, body[:300])
        self.assertEqual(h['Content-Type'], METRICS_TYPE)
        self.assertEqual(h['Cache-Control'], 'no-store')
        self.assertEqual(int(h['Content-Length']), len(body))
        fams = parse_exposition(body.decode('utf-8'))
        for name, typ in FAMILIES.items():
            if name in OPTIONAL and name not in fams:
                continue
            self.assertIn(name, fams)
            self.assertEqual(fams[name]['type'], typ, name)
            self.assertTrue(fams[name]['help'], name + ' has no # HELP')
        self.assertEqual(set(fams) | OPTIONAL, set(FAMILIES))
        self.assertEqual(sample(fams, 'lockd_up'), 1)
        start = sample(fams, 'lockd_start_time_seconds')
        self.assertTrue(t0 - 600 < start <= t0 + 1, (start, t0))
        reasons = {lab['reason'] for _, lab, _ in
                   fams['lockd_refusals_total']['samples']}
        self.assertEqual(reasons, REASONS)
        les = [lab['le'] for n, lab, _ in
               fams['lockd_request_duration_seconds']['samples']
               if n.endswith('_bucket')]
        self.assertEqual(float(les[0]), 0.0005)
        self.assertEqual(float(les[-2]), 10)
        self.assertEqual(les[-1], '+Inf')
        waits = [float(lab['le']) for n, lab, _ in
                 fams['lockd_wait_seconds']['samples']
                 if n.endswith('_bucket')]
        self.assertEqual(waits[:-1], [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
                                      10])

    def test_healthz_ok(self):
        st, h, body = get(self.daemon.port, '/healthz')
        self.assertEqual((st, body), (200, b'ok\n'))
        self.assertTrue(h['Content-Type'].startswith('text/plain'),
                        h['Content-Type'])
        self.assertEqual(h['Cache-Control'], 'no-store')

    def test_query_string_is_ignored(self):
        self.assertEqual(health(self.daemon.port, '/healthz?verbose=1'),
                         (200, b'ok\n'))
        self.assertEqual(get(self.daemon.port, '/metrics?x=1')[0], 200)

    def test_head(self):
        for path in ('/metrics', '/healthz'):
            resp = raw_http(self.daemon.port, http_request('HEAD', path))
            st, h, body = parse_http(resp)
            self.assertEqual(st, 200, path)
            self.assertEqual(body, b'', path)
            self.assertEqual(h['cache-control'], 'no-store')
        self.assertEqual(h['content-length'], '3')      # "ok\n"

    def test_other_methods_405(self):
        for path in ('/metrics', '/healthz'):
            for method, data in (('POST', b'<x/>'), ('PUT', b'x'),
                                 ('DELETE', None), ('OPTIONS', None)):
                st, h, body = get(self.daemon.port, path, method, data)
                self.assertEqual(st, 405, '%s %s' % (method, path))
                self.assertEqual(h['Allow'], 'GET, HEAD')
        self.assertTrue(self.daemon.alive())

    def test_other_paths_unchanged(self):
        """What the daemon answered before /metrics existed (checked with
        curl on the previous build): 405 for GET on the XML-RPC paths,
        411 for a POST without a length, 404 elsewhere, OPTIONS 200."""
        port = self.daemon.port
        expect = {
            ('GET', '/'): 405, ('GET', '/RPC2'): 405, ('HEAD', '/RPC2'): 405,
            ('PUT', '/'): 405, ('DELETE', '/RPC2'): 405,
            ('OPTIONS', '/RPC2'): 200, ('OPTIONS', '/'): 200,
            ('GET', '/x'): 404, ('GET', '/metrics/'): 404,
            ('GET', '/metricsx'): 404, ('GET', '/healthz/x'): 404,
            ('GET', '/Metrics'): 404, ('POST', '/x'): 404,
            ('GET', '/RPC2?x=1'): 405,
        }
        for (method, path), code in expect.items():
            req = ('%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n'
                   % (method, path, HOST)).encode()
            st = parse_http(raw_http(port, req))[0]
            self.assertEqual(st, code, '%s %s' % (method, path))
        req = ('POST / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n'
               % HOST).encode()
        self.assertEqual(parse_http(raw_http(port, req))[0], 411)

    def test_xmlrpc_unaffected(self):
        for path in ('/', '/RPC2'):
            p = self.daemon.proxy(path)
            res = 'ep-xmlrpc' + path
            self.assertIsNone(p.lock(res, 'c'))
            self.assertFault(FAULT_HELD, "Resource already locked by 'c'",
                             p.lock, res, 'd')
            self.assertIsNone(p.unlock(res, 'c'))
            self.assertIn('lock', p.system.listMethods())

    def test_keepalive_between_metrics_and_xmlrpc(self):
        """One connection: HEAD and GET /metrics, then an XML-RPC call,
        then GET /healthz (each response framed by its Content-Length)."""
        c = http.client.HTTPConnection(HOST, self.daemon.port, timeout=10)
        try:
            c.request('HEAD', '/metrics')
            r = c.getresponse()
            self.assertEqual((r.status, r.read()), (200, b''))
            self.assertGreater(int(r.getheader('Content-Length')), 1000)
            c.request('GET', '/metrics')
            r = c.getresponse()
            parse_exposition(r.read().decode())
            self.assertEqual(r.status, 200)
            body = xmlrpc.client.dumps(('ep-ka', 'c'), 'lock').encode()
            c.request('POST', '/RPC2', body, {'Content-Type': 'text/xml'})
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            self.assertEqual(xmlrpc.client.loads(r.read())[0], (None,))
            c.request('GET', '/healthz')
            r = c.getresponse()
            self.assertEqual((r.status, r.read()), (200, b'ok\n'))
        finally:
            c.close()
        self.assertIsNone(self.daemon.proxy().unlock('ep-ka', 'c'))

    def test_scrapes_while_locking(self):
        """100 scrapes of each endpoint while two clients lock and unlock:
        every answer is well-formed, counters never go back, the daemon
        stays up and serves."""
        stop = threading.Event()
        errors = []
        done = [0]

        def locker(name):
            p = self.daemon.proxy()
            deadline = time.monotonic() + 120
            try:
                for i in range(100000):
                    if stop.is_set() or time.monotonic() > deadline:
                        break
                    p.lock('ep-load-%s' % name, name)
                    p.unlock('ep-load-%s' % name, name)
                    done[0] += 1
            except Exception as e:      # reported by the main thread
                errors.append(e)

        threads = [threading.Thread(target=locker, args=(n,))
                   for n in ('a', 'b')]
        for t in threads:
            t.start()
        try:
            last = {}
            deadline = time.monotonic() + 120
            for i in range(100):
                self.assertLess(time.monotonic(), deadline, 'too slow')
                fams = scrape(self.daemon)
                for name in ('lockd_grants_total', 'lockd_releases_total',
                             'lockd_request_duration_seconds_count'):
                    v = sample(fams, name)
                    self.assertGreaterEqual(v, last.get(name, 0), name)
                    last[name] = v
                st, _, body = get(self.daemon.port, '/healthz')
                self.assertEqual((st, body), (200, b'ok\n'))
        finally:
            stop.set()
            for t in threads:
                t.join(60)
        self.assertEqual(errors, [])
        self.assertFalse(any(t.is_alive() for t in threads))
        self.assertGreater(done[0], 0)
        self.assertTrue(self.daemon.alive())
        self.assertIsNone(self.daemon.proxy().lock('ep-after', 'c'))
        self.assertIsNone(self.daemon.proxy().unlock('ep-after', 'c'))


class Counters(SharedDaemon, LockdTestCase):
    """Counters move by exactly what the calls in between did."""

    def delta(self, before, after, name, **labels):
        return sample(after, name, **labels) - sample(before, name, **labels)

    def test_lock_unlock_and_refusals(self):
        d = self.daemon
        p = d.proxy()
        m0 = scrape(d)
        self.assertIsNone(p.lock('cn-a', 'c1'))
        self.assertFault(FAULT_HELD, None, p.lock, 'cn-a', 'c2')
        self.assertFault(FAULT_HELD, None, p.lock, 'cn-a', 'c1')
        self.assertFault(FAULT_NOT_OWNER, None, p.unlock, 'cn-a', 'c2')
        self.assertFault(FAULT_NOT_LOCKED, None, p.unlock, 'cn-none', 'c1')
        self.assertFault(FAULT_RESOURCE, None, p.lock, '', 'c1')
        self.assertFault(FAULT_CLIENT, None, p.lock, 'cn-b', '')
        self.assertIsNone(p.unlock('cn-a', 'c1'))
        m1 = scrape(d)
        expect = {('lockd_grants_total',): 1, ('lockd_releases_total',): 1,
                  ('lockd_refusals_total', 'held'): 2,
                  ('lockd_refusals_total', 'not_owner'): 1,
                  ('lockd_refusals_total', 'not_locked'): 1,
                  ('lockd_refusals_total', 'bad_resource'): 1,
                  ('lockd_refusals_total', 'bad_client'): 1,
                  ('lockd_refusals_total', 'delayed'): 0,
                  ('lockd_reacquires_total',): 0,
                  ('lockd_storage_errors_total',): 0,
                  ('lockd_breaks_total',): 0}
        for key, n in expect.items():
            labels = {'reason': key[1]} if len(key) == 2 else {}
            self.assertEqual(self.delta(m0, m1, key[0], **labels), n, key)

    def test_request_latency_histogram_counts_xmlrpc_calls(self):
        d = self.daemon
        p = d.proxy()
        m0 = scrape(d)
        for i in range(5):
            self.assertIsNone(p.lock('cn-lat', 'c'))
            self.assertIsNone(p.unlock('cn-lat', 'c'))
        m1 = scrape(d)
        # Scrapes are not XML-RPC requests: exactly the 10 calls count.
        self.assertEqual(self.delta(m0, m1, 'lockd_request_duration_'
                                    'seconds_count'), 10)
        self.assertGreater(self.delta(m0, m1, 'lockd_request_duration_'
                                      'seconds_sum'), 0)
        self.assertEqual(self.delta(m0, m1, 'lockd_request_duration_seconds'
                                    '_bucket', le='+Inf'), 10)

    def test_acquire_reacquire_renew_and_lease_refusals(self):
        d = self.daemon
        p = d.proxy()
        m0 = scrape(d)
        g = p.acquire('cn-lease', 'c1', {'ttl': 30})
        self.assertFalse(g['reacquired'])
        self.assertTrue(p.acquire('cn-lease', 'c1', {})['reacquired'])
        p.renew('cn-lease', 'c1', str(g['token']))
        self.assertFault(FAULT_STALE_TOKEN, None, p.renew, 'cn-lease', 'c1',
                         str(g['token'] + 1000))
        self.assertIsNone(p.lock('cn-nolease', 'c1'))
        tok = p.acquire('cn-nolease', 'c1', {})['token']
        self.assertFault(FAULT_NO_LEASE, None, p.renew, 'cn-nolease', 'c1',
                         str(tok))
        self.assertIsNone(p.unlock('cn-lease', 'c1'))
        self.assertIsNone(p.unlock('cn-nolease', 'c1'))
        m1 = scrape(d)
        self.assertEqual(self.delta(m0, m1, 'lockd_grants_total'), 2)
        self.assertEqual(self.delta(m0, m1, 'lockd_reacquires_total'), 2)
        self.assertEqual(self.delta(m0, m1, 'lockd_renewals_total'), 1)
        self.assertEqual(self.delta(m0, m1, 'lockd_releases_total'), 2)
        self.assertEqual(self.delta(m0, m1, 'lockd_refusals_total',
                                    reason='stale_token'), 1)
        self.assertEqual(self.delta(m0, m1, 'lockd_refusals_total',
                                    reason='no_lease'), 1)

    def test_expiry_then_delayed(self):
        d = self.daemon
        p = d.proxy()
        m0 = scrape(d)
        p.acquire('cn-exp', 'c1', {'ttl': 0.2})
        deadline = time.monotonic() + 10
        while True:
            m1 = scrape(d)
            if self.delta(m0, m1, 'lockd_expiries_total') >= 1:
                break
            self.assertLess(time.monotonic(), deadline, 'no expiry counted')
            time.sleep(0.05)
        self.assertEqual(self.delta(m0, m1, 'lockd_expiries_total'), 1)
        # The lock-delay after the expiry (default 15 s) refuses a taker.
        self.assertFault(FAULT_DELAYED, None, p.acquire, 'cn-exp', 'c2', {})
        m2 = scrape(d)
        self.assertEqual(self.delta(m1, m2, 'lockd_refusals_total',
                                    reason='delayed'), 1)

    def test_wait_counts_and_histogram(self):
        d = self.daemon
        p = d.proxy()
        self.assertIsNone(p.lock('cn-wait', 'c1'))
        m0 = scrape(d)
        out = {}

        def waiter():
            try:
                out['grant'] = d.proxy().acquire('cn-wait', 'c2',
                                                 {'wait': 20})
            except Exception as e:
                out['error'] = e

        t = threading.Thread(target=waiter)
        t.start()
        try:
            deadline = time.monotonic() + 10
            while sample(scrape(d), 'lockd_waiting') != 1:
                self.assertNotIn('error', out)
                self.assertLess(time.monotonic(), deadline,
                                'lockd_waiting never reached 1')
                time.sleep(0.02)
            time.sleep(0.3)
            self.assertIsNone(p.unlock('cn-wait', 'c1'))
        finally:
            t.join(30)
        self.assertFalse(t.is_alive())
        self.assertNotIn('error', out)
        self.assertGreaterEqual(out['grant']['waited'], 0.2)
        m1 = scrape(d)
        self.assertEqual(sample(m1, 'lockd_waiting'), 0)
        self.assertEqual(self.delta(m0, m1, 'lockd_waits_total'), 1)
        self.assertEqual(self.delta(m0, m1, 'lockd_wait_seconds_count'), 1)
        self.assertEqual(self.delta(m0, m1, 'lockd_wait_seconds_bucket',
                                    le='+Inf'), 1)
        self.assertEqual(self.delta(m0, m1, 'lockd_wait_seconds_bucket',
                                    le='0.1'), 0)
        self.assertEqual(self.delta(m0, m1, 'lockd_wait_seconds_bucket',
                                    le='10'), 1)
        waited = self.delta(m0, m1, 'lockd_wait_seconds_sum')
        self.assertAlmostEqual(waited, out['grant']['waited'], delta=0.01)
        self.assertEqual(self.delta(m0, m1, 'lockd_grants_total'), 1)
        self.assertIsNone(p.unlock('cn-wait', 'c2'))


class ConfiguredDaemon(ConfTestCase):
    """Daemons with a configuration file of the test's own."""

    def test_breaks_counted(self):
        with self.daemon('break-lock yes\n') as d:
            p = d.proxy()
            m0 = scrape(d)
            self.assertIsNone(p.lock('cf-brk', 'c1'))
            p.break_lock('cf-brk', 'test of the metric')
            self.assertFault(FAULT_NOT_LOCKED, None, p.break_lock, 'cf-brk',
                             'again')
            m1 = scrape(d)
            self.assertEqual(sample(m1, 'lockd_breaks_total') -
                             sample(m0, 'lockd_breaks_total'), 1)
            self.assertEqual(sample(m1, 'lockd_grants_total') -
                             sample(m0, 'lockd_grants_total'), 1)

    def test_allow_list_refuses_other_addresses(self):
        with self.daemon('allow 10.0.0.0/8\n') as d:
            for path in ('/metrics', '/healthz'):
                st, h, body = get(d.port, path)
                self.assertEqual(st, 403, (path, body))
                self.assertNotIn(b'lockd_', body)
                resp = raw_http(d.port, http_request('HEAD', path))
                self.assertEqual(parse_http(resp)[0], 403, path)
            # Refused before anything else, whatever the method.
            self.assertEqual(get(d.port, '/metrics', 'POST', b'x')[0], 403)
            self.assertFault(FAULT_DENIED, None, d.proxy().lock, 'r', 'c')
            self.assertEqual(get(d.port, '/x')[0], 404)

    def test_allow_list_admits_listed_address(self):
        with self.daemon('allow 10.0.0.0/8\nallow 127.0.0.0/8\n') as d:
            self.assertEqual(sample(scrape(d), 'lockd_up'), 1)
            self.assertEqual(health(d.port), (200, b'ok\n'))

    def test_auth_file_not_required(self):
        users = os.path.join(self.tmp, 'users')
        with open(users, 'w') as f:
            # No password matches this hash: nobody can authenticate.
            f.write('ops:$6$saltsalt$%s:admin:*\n' % ('A' * 86))
        os.chmod(users, 0o600)
        with self.daemon('auth-file %s\n' % users) as d:
            self.assertFault(FAULT_AUTH, None, d.proxy().lock, 'r', 'c')
            self.assertEqual(sample(scrape(d), 'lockd_up'), 1)
            self.assertEqual(health(d.port), (200, b'ok\n'))


class Health(LockdTestCase):
    """/healthz follows the lock directory: 503 while it takes no write,
    200 again once repaired; /metrics keeps answering meanwhile."""

    def setUp(self):
        self.parent = tempfile.mkdtemp(prefix='lockd-metrics-')
        self.addCleanup(shutil.rmtree, self.parent, True)
        self.lockdir = os.path.join(self.parent, 'locks')
        os.mkdir(self.lockdir, 0o700)
        self.addCleanup(os.chmod, self.lockdir, 0o700)

    def assertUnhealthy(self, d):
        st, h, body = get(d.port, '/healthz')
        self.assertEqual(st, 503, body)
        self.assertTrue(body.endswith(b'\n') and len(body) > 1, body)
        self.assertNotEqual(body, b'ok\n')
        self.assertTrue(h['Content-Type'].startswith('text/plain'))
        self.assertEqual(h['Cache-Control'], 'no-store')
        self.assertTrue(body.decode('utf-8').isprintable() or
                        body[:-1].decode('utf-8').isprintable(), body)
        return body

    def assertHealthy(self, d):
        self.assertEqual(health(d.port), (200, b'ok\n'))

    def test_lockdir_replaced_by_a_file(self):
        """The lock directory renamed away and a file put in its place
        (works as root too, where a chmod stops nothing)."""
        moved = os.path.join(self.parent, 'moved')
        with Daemon(lockdir=self.lockdir) as d:
            p = d.proxy()
            self.assertHealthy(d)
            self.assertIsNone(p.lock('h-kept', 'c'))
            m0 = scrape(d)
            os.rename(self.lockdir, moved)
            try:
                with open(self.lockdir, 'w') as f:
                    f.write('not a directory\n')
                body = self.assertUnhealthy(d)
                sys_stderr_note(body)
                self.assertFault(FAULT_STORAGE, None, p.lock, 'h-new', 'c')
                m1 = scrape(d)
                self.assertGreaterEqual(
                    sample(m1, 'lockd_storage_errors_total') -
                    sample(m0, 'lockd_storage_errors_total'), 1)
                self.assertTrue(d.alive())
            finally:
                if os.path.isfile(self.lockdir):
                    os.unlink(self.lockdir)
                os.rename(moved, self.lockdir)
            self.assertHealthy(d)
            self.assertIsNone(p.unlock('h-kept', 'c'))

    def test_probe_leaves_nothing_behind(self):
        with Daemon(lockdir=self.lockdir) as d:
            self.assertIsNone(d.proxy().lock('h-x', 'c'))
            before = sorted(os.listdir(self.lockdir))
            for i in range(20):
                self.assertHealthy(d)
            self.assertEqual(sorted(os.listdir(self.lockdir)), before)

    @unittest.skipIf(ROOT, 'root writes into a mode 0500 directory')
    def test_lockdir_not_writable(self):
        with Daemon(lockdir=self.lockdir) as d:
            self.assertHealthy(d)
            os.chmod(self.lockdir, 0o500)
            try:
                self.assertUnhealthy(d)
                self.assertEqual(scrape(d)['lockd_up']['samples'][0][2], 1)
            finally:
                os.chmod(self.lockdir, 0o700)
            self.assertHealthy(d)


class LocksHeld(LockdTestCase):
    """lockd_locks_held counts every lock in the directory, also those
    lockd did not grant (here: gocept.lockd's files), once the background
    scan has been through it."""

    def test_counts_the_locks_in_the_directory(self):
        parent = tempfile.mkdtemp(prefix='lockd-metrics-')
        self.addCleanup(shutil.rmtree, parent, True)
        for i in range(25):
            with open(os.path.join(parent, 'old%02d.resource.lock' % i),
                      'w') as f:
                f.write('old-host')
        with Daemon(lockdir=parent) as d:
            deadline = time.monotonic() + 10
            held = None
            while time.monotonic() < deadline:
                fams = scrape(d)
                if 'lockd_locks_held' in fams:
                    held = sample(fams, 'lockd_locks_held')
                    break
                time.sleep(0.05)
            self.assertEqual(held, 25)
            self.assertEqual(d.proxy().status('old07')['holder'],
                             'old-host')


def sys_stderr_note(body):
    """Shows the 503 reason in the test log (for people reading it)."""
    sys.stderr.write('[503: %s] ' % body.decode('utf-8', 'replace').strip())


if __name__ == '__main__':
    raise SystemExit(main())
