# SPDX-License-Identifier: MIT
"""The fast path and lockd's own connections (server/fastpath.c, chan.c).

Differential: two daemons on lock directories of their own get the same
requests in the same order, one with the fast path (the default), one
with LOCKD_FASTPATH=0 (everything through xmlrpc-c).  Their answers must
be byte for byte the same (HTTP status, headers but Date, body), and so
must their audit lines: the corpus has the shapes the scanner takes and
the near misses it must leave to xmlrpc-c (entities, CDATA, whitespace,
CR, non-ASCII, control characters, types, counts, attributes, comments,
DTDs, junk), in an order that walks the lock states (granted, held, not
owner, not locked, tokens) and, with an auth-file, identity binding.

Connections: a reply leaves whole also when no further read follows
(Connection: close, HEAD, errors, 100-continue, pipelining, large
bodies); sockets are close-on-exec, cost one descriptor each, and do not
hold up a stop.
"""
import base64
import os
import re
import signal
import socket
import tempfile
import time
import unittest
import xmlrpc.client

from harness import (HOST, Daemon, LockdTestCase, SharedDaemon, main,
                     parse_http, raw_http)
from harness import FAULT_HELD

PY = "<?xml version='1.0'?>\n"
LG = '<?xml version="1.0"?>\n'


def py(method, *args):
    """A call as Python's xmlrpc.client writes it."""
    return xmlrpc.client.dumps(tuple(args), method).encode('utf-8')


def lg(method, *args):
    """A call as bench/loadgen writes it (strings not escaped: raw)."""
    ps = ''.join('<param><value><string>%s</string></value></param>' % a
                 for a in args)
    return ('%s<methodCall><methodName>%s</methodName><params>%s</params>'
            '</methodCall>\n' % (LG, method, ps)).encode('utf-8')


def call2(method, a, b, decl=PY, sep='\n', value='<value><string>%s'
          '</string></value>'):
    """A two-parameter call with the pieces given, for near misses."""
    p = ''.join('<param>%s%s%s</param>%s' % (sep, value.replace('%s', x),
                                             sep, sep) for x in (a, b))
    return ('%s<methodCall>%s<methodName>%s</methodName>%s<params>%s%s'
            '</params>%s</methodCall>\n' % (decl, sep, method, sep, sep, p,
                                            sep)).encode('utf-8')


def corpus():
    """(label, body) in an order that walks the lock states."""
    c = []

    def add(label, body):
        c.append((label, body if isinstance(body, bytes) else
                  body.encode('utf-8')))

    # -- ping ---------------------------------------------------------------
    add('ping py', py('ping'))
    add('ping loadgen', lg('ping'))
    add('ping with a parameter', py('ping', 'x'))
    add('ping, params empty element', PY + '<methodCall><methodName>ping'
        '</methodName><params/></methodCall>')
    add('ping, no params', PY + '<methodCall><methodName>ping'
        '</methodName></methodCall>')
    # -- the lock states ----------------------------------------------------
    for style, f in (('py', py), ('loadgen', lg)):
        r = 'fp-' + style
        add('lock %s' % style, f('lock', r, 'c1'))
        add('lock again %s' % style, f('lock', r, 'c1'))
        add('lock other %s' % style, f('lock', r, 'c2'))
        add('unlock not owner %s' % style, f('unlock', r, 'c2'))
        add('unlock %s' % style, f('unlock', r, 'c1'))
        add('unlock not locked %s' % style, f('unlock', r, 'c1'))
        add('lock_token %s' % style, f('lock_token', r + 't', 'c1'))
        add('lock_token held %s' % style, f('lock_token', r + 't', 'c3'))
        add('lock_token again %s' % style, f('lock_token', r + 't', 'c1'))
        add('unlock token %s' % style, f('unlock', r + 't', 'c1'))
        add('lock_token next %s' % style, f('lock_token', r + 't', 'c1'))
    # -- names --------------------------------------------------------------
    names = ['a&b<c>d"e\'f', 'x]]y', 'x]]>y', 'sp ace', 'tab\there',
             'new\nline', 'cr\rhere', 'h\u00e9llo', '\u2603', '', 'x' * 4097,
             'x' * 4096, '..', '.', '../etc', '.hidden', '%2F', 'a/b',
             'del\x7fete', '~!@#$%^*()_+-={}[]|\\:;?,./', ' lead', 'trail ']
    for i, n in enumerate(names):
        add('lock name %d' % i, py('lock', n, 'cn'))
        add('lock name %d held' % i, py('lock', n, 'other'))
        add('unlock name %d' % i, py('unlock', n, 'cn'))
        add('lock client %d' % i, py('lock', 'client-%d' % i, n))
        add('lock client %d held' % i, py('lock', 'client-%d' % i, 'x'))
        add('unlock client %d' % i, py('unlock', 'client-%d' % i, n))
    add('holder with markup', py('lock', 'markup', '<b>&amp;</b>'))
    add('held by markup', py('lock', 'markup', 'c'))
    add('unlock by markup', py('unlock', 'markup', '<b>&amp;</b>'))
    # -- near misses: what the scanner must leave to xmlrpc-c ---------------
    add('raw ]]>', call2('lock', 'n]]>m', 'c'))
    add('&quot;', call2('lock', 'q&quot;q', 'c'))
    add('&apos;', call2('lock', 'q&apos;q', 'c'))
    add('&#65;', call2('lock', 'q&#65;q', 'c'))
    add('&#x41;', call2('lock', 'q&#x41;q', 'c'))
    add('&amp;amp;', call2('lock', 'q&amp;amp;q', 'c'))
    add('bare &', call2('lock', 'q&q', 'c'))
    add('&lt without ;', call2('lock', 'q&ltq', 'c'))
    add('unknown entity', call2('lock', 'q&nbsp;q', 'c'))
    add('CDATA', call2('lock', '<![CDATA[cd]]>', 'c'))
    add('raw > in string', call2('lock', 'gt>gt', 'c'))
    add('unlock raw >', call2('unlock', 'gt>gt', 'c'))
    add('untyped value', call2('lock', 'untyped', 'c',
                               value='<value>%s</value>'))
    add('blank before string', call2('lock', 'bl', 'c',
                                     value='<value> <string>%s</string>'
                                     '</value>'))
    add('blank after string', call2('lock', 'bl2', 'c',
                                    value='<value><string>%s</string>\n'
                                    '</value>'))
    add('empty string element', call2('lock', 'e', 'c',
                                      value='<value><string/></value>'))
    add('int parameter', call2('lock', 'i', 'c',
                               value='<value><int>1</int></value>'))
    add('i4 parameter', call2('lock', 'i', 'c',
                              value='<value><i4>7</i4></value>'))
    add('string in struct', call2('lock', 's', 'c', value='<value><struct>'
                                  '<member><name>%s</name><value>x</value>'
                                  '</member></struct></value>'))
    add('one parameter', py('lock', 'one'))
    add('three parameters', py('lock', 'three', 'c', 'x'))
    add('no parameters', py('lock'))
    add('unlock one parameter', py('unlock', 'one'))
    add('lock_token three', py('lock_token', 'three', 'c', 'x'))
    add('tabs between elements', call2('lock', 'tabs', 'c', sep='\t'))
    add('spaces between elements', call2('lock', 'spaces', 'c', sep='  '))
    add('no blanks', call2('lock', 'noblank', 'c', sep=''))
    add('unlock no blanks', call2('unlock', 'noblank', 'c', sep=''))
    add('CRLF between elements', call2('lock', 'crlf', 'c', sep='\r\n'))
    add('CR between elements', call2('lock', 'cr', 'c', sep='\r'))
    add('encoding UTF-8', call2('lock', 'enc', 'c', decl='<?xml version="1.0"'
                                ' encoding="UTF-8"?>\n'))
    add('encoding latin-1', call2('lock', 'enc2', 'c', decl='<?xml '
                                  'version="1.0" encoding="ISO-8859-1"?>\n'))
    add('version 1.1', call2('lock', 'v11', 'c',
                             decl="<?xml version='1.1'?>\n"))
    add('no declaration', call2('lock', 'nodecl', 'c', decl=''))
    add('blank before declaration', call2('lock', 'lead', 'c',
                                          decl=' ' + PY))
    add('BOM', b'\xef\xbb\xbf' + py('lock', 'bom', 'c'))
    add('comment after declaration', PY.encode() + b'<!-- c -->' +
        py('lock', 'comment', 'c')[len(PY):])
    add('comment in params', py('lock', 'comment2', 'c').replace(
        b'<params>', b'<params><!-- c -->'))
    add('processing instruction', py('lock', 'pi', 'c').replace(
        b'<params>', b'<params><?pi x?>'))
    add('DOCTYPE', PY.encode() + b'<!DOCTYPE methodCall>' +
        py('lock', 'dt', 'c')[len(PY):])
    add('attribute', py('lock', 'attr', 'c').replace(
        b'<methodCall>', b'<methodCall a="1">'))
    add('attribute on string', py('lock', 'attr2', 'c').replace(
        b'<string>', b'<string a="1">', 1))
    add('name in lower case only', py('Lock', 'case', 'c'))
    add('name with blank', py('lock ', 'blank', 'c'))
    add('name with prefix', py('xlock', 'x', 'c'))
    add('system method', py('system.listMethods'))
    add('other method', py('status', 'fp-py'))
    add('trailing junk', py('lock', 'junk', 'c') + b'x')
    add('trailing element', py('lock', 'junk2', 'c') + b'<x/>')
    add('trailing blanks', py('lock', 'trail', 'c') + b' \t\n')
    add('trailing CR', py('lock', 'trailcr', 'c') + b'\r')
    add('truncated', py('lock', 'trunc', 'c')[:-10])
    add('truncated in string', py('lock', 'trunc2', 'c')[:120])
    add('unclosed string', py('lock', 'uncl', 'c').replace(
        b'</string>', b'', 1))
    add('wrong closing tag', py('lock', 'wrong', 'c').replace(
        b'</string>', b'</strong>', 1))
    add('duplicate methodName', py('lock', 'dup', 'c').replace(
        b'<params>', b'<methodName>unlock</methodName><params>'))
    add('params twice', py('lock', 'twice', 'c').replace(
        b'</methodCall>', b'<params></params></methodCall>'))
    add('NUL byte', py('lock', 'nul', 'c').replace(b'nul', b'n\x00l'))
    add('control byte', py('lock', 'ctl', 'c').replace(b'ctl', b'c\x01l'))
    add('high byte, not UTF-8', py('lock', 'hb', 'c').replace(b'hb',
                                                               b'h\xffb'))
    add('empty body', b'')
    add('garbage', b'not xml at all')
    add('only a declaration', PY.encode())
    add('i8 check', py('lock', 'i8', 'c').replace(
        b'<string>c</string>', b'<i8>12x</i8>'))
    # Last: both daemons must still agree on the state.
    add('final lock', py('lock', 'fp-py', 'c9'))
    add('final status', py('status', 'fp-py'))
    return c


def normalize_headers(headers):
    return {k: v for k, v in headers.items() if k != 'date'}


AUDIT = re.compile(r'^lockd: (lock|unlock|lock_token|acquire|request) .*$',
                   re.M)


def audit_lines(d):
    """The audit lines of daemon D, peer ports masked."""
    return [re.sub(r'127\.0\.0\.1:\d+', '127.0.0.1:PORT', m.group(0))
            for m in AUDIT.finditer(d.stderr_text())]


class Differential(LockdTestCase):
    """Same requests to a fast-path daemon and an xmlrpc-c-only one."""

    def daemons(self, args=()):
        fast = Daemon(args=list(args))
        old = os.environ.get('LOCKD_FASTPATH')
        os.environ['LOCKD_FASTPATH'] = '0'
        try:
            slow = Daemon(args=list(args))
            slow.start()
        finally:
            if old is None:
                del os.environ['LOCKD_FASTPATH']
            else:
                os.environ['LOCKD_FASTPATH'] = old
        fast.start()
        return fast, slow

    def compare(self, fast, slow, cases, headers=(), path='/RPC2'):
        for label, body in cases:
            req = ('POST %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n'
                   'Content-Type: text/xml\r\nContent-Length: %d\r\n%s\r\n'
                   % (path, HOST, len(body),
                      ''.join(h + '\r\n' for h in headers))
                   ).encode('ascii') + body
            a = parse_http(raw_http(fast.port, req, timeout=20))
            b = parse_http(raw_http(slow.port, req, timeout=20))
            self.assertEqual(a[0], b[0], 'status for %s' % label)
            self.assertEqual(normalize_headers(a[1]), normalize_headers(b[1]),
                             'headers for %s' % label)
            self.assertEqual(a[2], b[2], 'body for %s: %r' % (label, body))

    def test_same_answers_and_audit_lines(self):
        fast, slow = self.daemons()
        with fast, slow:
            cases = corpus()
            self.compare(fast, slow, cases)
            # The same again on "/": the other XML-RPC path.
            self.compare(fast, slow, [('again ' + l, b) for l, b in cases],
                         path='/')
            fa, sa = audit_lines(fast), audit_lines(slow)
            self.assertGreater(len(fa), 100)
            self.assertEqual(fa, sa)

    def test_same_answers_with_an_auth_file(self):
        import test_access
        tmp = tempfile.mkdtemp(prefix='lockd-fastpath-')
        try:
            users = os.path.join(tmp, 'users')
            test_access.write_users(users, {
                'u1': ('pw1', 'client', 'c1,c&<>'),
                'adm': ('pwa', 'admin', '*')})
            conf = os.path.join(tmp, 'lockd.conf')
            with open(conf, 'w') as f:
                f.write('auth-file %s\n' % users)
            fast, slow = self.daemons(['--config', conf])
            with fast, slow:
                cases = [('lock as bound client', py('lock', 'au', 'c1')),
                         ('lock as other client', py('lock', 'au2', 'c2')),
                         ('unlock as other client', py('unlock', 'au', 'c2')),
                         ('markup client', py('lock', 'au3', 'c&<>')),
                         ('token', py('lock_token', 'au4', 'c1')),
                         ('ping', py('ping')),
                         ('unlock', py('unlock', 'au', 'c1'))]
                for user, pw in (('u1', 'pw1'), ('u1', 'wrong'),
                                 ('adm', 'pwa'), (None, None)):
                    hdr = () if user is None else (
                        'Authorization: Basic %s' % base64.b64encode(
                            ('%s:%s' % (user, pw)).encode()).decode(),)
                    self.compare(fast, slow, [('%s %s' % (user, l), b)
                                              for l, b in cases], hdr)
                self.assertEqual(audit_lines(fast), audit_lines(slow))
        finally:
            import shutil
            shutil.rmtree(tmp, ignore_errors=True)

    def test_python_client_gets_the_same_results(self):
        fast, slow = self.daemons()
        with fast, slow:
            for d in (fast, slow):
                p = d.proxy()
                self.assertIsNone(p.ping())
                self.assertIsNone(p.lock('pyc', 'c'))      # token 1
                self.assertEqual(p.lock_token('pyt', 'c'), 2)
                self.assertFault(FAULT_HELD, "Resource already locked by 'c'",
                                 p.lock, 'pyc', 'd')
                self.assertIsNone(p.unlock('pyc', 'c'))
                self.assertIsNone(p.unlock('pyt', 'c'))
                self.assertEqual(p.lock_token('pyt', 'c'), 3)


def recv_until(s, pred, timeout):
    """Receives on S until PRED(buffer) or the peer closes; TIMEOUT s."""
    buf = b''
    deadline = time.monotonic() + timeout
    while not pred(buf):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError('waited %g s, got %r' % (timeout, buf[:300]))
        s.settimeout(left)
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    return buf


def responses(buf):
    """Complete responses (by Content-Length) at the start of BUF."""
    out = []
    while True:
        end = buf.find(b'\r\n\r\n')
        if end < 0:
            return out, buf
        m = re.search(rb'(?im)^content-length:\s*(\d+)', buf[:end])
        n = int(m.group(1)) if m else 0
        if len(buf) < end + 4 + n:
            return out, buf
        out.append(buf[:end + 4 + n])
        buf = buf[end + 4 + n:]


def post(body, close=False, path='/RPC2', extra=''):
    return ('POST %s HTTP/1.1\r\nHost: %s\r\n%sContent-Type: text/xml\r\n'
            'Content-Length: %d\r\n%s\r\n'
            % (path, HOST, 'Connection: close\r\n' if close else '',
               len(body), extra)).encode('ascii') + body


class Connections(SharedDaemon, LockdTestCase):
    """Replies leave whole and at once, whatever follows them."""

    def test_requests_one_after_another_on_one_connection(self):
        # Abyss 1.33 reads one request at a time (it drops what a client
        # pipelines), so each request waits for its answer.
        with socket.create_connection((HOST, self.daemon.port), 10) as s:
            got = []
            for body in (py('lock', 'seq', 'c'), py('lock', 'seq', 'd'),
                         py('unlock', 'seq', 'c'), py('ping')):
                s.sendall(post(body))
                buf = recv_until(s, lambda b: len(responses(b)[0]) == 1, 5)
                got.append(parse_http(buf))
        self.assertEqual([r[0] for r in got], [200] * 4)
        self.assertIn(b'<nil/>', got[0][2])
        self.assertIn(b'already locked', got[1][2])
        self.assertIn(b'<nil/>', got[2][2])
        self.assertIn(b'<nil/>', got[3][2])

    def test_replies_before_a_close_are_not_held_back(self):
        port = self.daemon.port
        for label, req in (
                ('connection close', post(py('ping'), close=True)),
                ('HTTP/1.0', b'POST /RPC2 HTTP/1.0\r\nContent-Type: text/xml'
                 b'\r\nContent-Length: %d\r\n\r\n' % len(py('ping')) +
                 py('ping')),
                ('HEAD healthz', b'HEAD /healthz HTTP/1.1\r\nHost: x\r\n'
                 b'Connection: close\r\n\r\n'),
                ('404', b'GET /nope HTTP/1.1\r\nHost: x\r\nConnection: '
                 b'close\r\n\r\n'),
                ('GET on RPC2', b'GET /RPC2 HTTP/1.1\r\nHost: x\r\n\r\n'),
                ('bad request line', b'BLAH\r\n\r\n'),
                ('over the size limit', post(b'x' * 70000, close=True))):
            t0 = time.monotonic()
            with socket.create_connection((HOST, port), 10) as s:
                try:
                    s.sendall(req)
                except OSError:
                    pass
                try:
                    buf = recv_until(s, lambda b: False, 10)
                except ConnectionResetError:
                    buf = b''
            took = time.monotonic() - t0
            self.assertLess(took, 5, label)
            if label != 'over the size limit' or buf:
                self.assertRegex(buf, rb'^HTTP/1\.1 \d{3} ', label)

    def test_head_on_keepalive_then_another_request(self):
        with socket.create_connection((HOST, self.daemon.port), 10) as s:
            s.sendall(b'HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n')
            head = recv_until(s, lambda b: b'\r\n\r\n' in b, 5)
            self.assertTrue(head.startswith(b'HTTP/1.1 200'), head)
            s.sendall(post(py('ping')))
            buf = recv_until(s, lambda b: b'</methodResponse>' in b, 5)
            self.assertIn(b'<nil/>', buf)

    def test_expect_100_continue(self):
        body = py('ping')
        with socket.create_connection((HOST, self.daemon.port), 10) as s:
            s.sendall(('POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Type: '
                       'text/xml\r\nContent-Length: %d\r\nExpect: '
                       '100-continue\r\n\r\n' % len(body)).encode())
            cont = recv_until(s, lambda b: b'\r\n\r\n' in b, 5)
            self.assertRegex(cont, rb'^HTTP/1\.1 100 ')
            s.sendall(body)
            buf = recv_until(s, lambda b: b'</methodResponse>' in b, 5)
            self.assertIn(b'<nil/>', buf)

    def test_large_reply_arrives_whole(self):
        p = self.daemon.proxy()
        names = ['large-%03d-%s' % (i, 'n' * 200) for i in range(60)]
        for n in names:
            self.assertIsNone(p.lock(n, 'big'))
        try:
            got = p.list({'prefix': 'large-'})
            self.assertEqual(sorted(x['resource'] for x in got['locks']),
                             names)
        finally:
            for n in names:
                p.unlock(n, 'big')

    def test_sockets_are_close_on_exec(self):
        with socket.create_connection((HOST, self.daemon.port), 10) as s:
            s.sendall(post(py('ping')))
            recv_until(s, lambda b: b'</methodResponse>' in b, 5)
            pid = self.daemon.pid
            socks = []
            for fd in os.listdir('/proc/%d/fd' % pid):
                try:
                    target = os.readlink('/proc/%d/fd/%s' % (pid, fd))
                except OSError:
                    continue
                if target.startswith('socket:'):
                    with open('/proc/%d/fdinfo/%s' % (pid, fd)) as f:
                        flags = int(re.search(r'flags:\s*(\d+)',
                                              f.read()).group(1), 8)
                    socks.append((fd, flags))
        self.assertGreaterEqual(len(socks), 2)      # listener + ours
        for fd, flags in socks:
            self.assertTrue(flags & 0o2000000, 'fd %s flags %o' % (fd, flags))


class Descriptors(LockdTestCase):

    def test_one_descriptor_per_connection(self):
        with Daemon() as d:
            pid = d.pid

            def nfds():
                return len(os.listdir('/proc/%d/fd' % pid))

            def nthreads():
                with open('/proc/%d/status' % pid) as f:
                    return int(re.search(r'Threads:\s*(\d+)',
                                         f.read()).group(1))
            base_fds, base_threads = nfds(), nthreads()
            conns = [socket.create_connection((HOST, d.port), 10)
                     for _ in range(40)]
            try:
                deadline = time.monotonic() + 10
                while nthreads() < base_threads + 40 and \
                        time.monotonic() < deadline:
                    time.sleep(0.05)
                self.assertGreaterEqual(nthreads(), base_threads + 40)
                grown = nfds() - base_fds
                self.assertGreaterEqual(grown, 40)
                # Abyss's own channels took three each (socket and pipe).
                self.assertLess(grown, 60, 'descriptors for 40 connections')
            finally:
                for c in conns:
                    c.close()


class Stop(LockdTestCase):

    def test_stop_with_idle_and_half_sent_requests(self):
        with Daemon() as d:
            idle = socket.create_connection((HOST, d.port), 10)
            half = socket.create_connection((HOST, d.port), 10)
            half.sendall(b'POST /RPC2 HTTP/1.1\r\nContent-Length: 100\r\n'
                         b'\r\n<?xml')
            kept = d.proxy()
            self.assertIsNone(kept.ping())
            time.sleep(0.2)
            t0 = time.monotonic()
            self.assertEqual(d.stop(timeout=15), 0)
            self.assertLess(time.monotonic() - t0, 10)
            idle.close()
            half.close()

    def test_keepalive_requests_limit(self):
        tmp = tempfile.mkdtemp(prefix='lockd-fastpath-')
        conf = os.path.join(tmp, 'lockd.conf')
        with open(conf, 'w') as f:
            f.write('keepalive-requests 3\n')
        try:
            with Daemon(args=['--config', conf]) as d, \
                    socket.create_connection((HOST, d.port), 10) as s:
                got = []
                for i in range(3):
                    s.sendall(post(py('ping')))
                    buf = recv_until(s, lambda b: len(responses(b)[0]) == 1,
                                     5)
                    got.append(parse_http(buf))
                self.assertEqual([g[0] for g in got], [200] * 3)
                self.assertNotEqual(got[1][1].get('connection', '').lower(),
                                    'close')
                self.assertEqual(got[2][1].get('connection', '').lower(),
                                 'close')
                self.assertEqual(recv_until(s, lambda b: False, 5), b'')
        finally:
            import shutil
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    raise SystemExit(main())
