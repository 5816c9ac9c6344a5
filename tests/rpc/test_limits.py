# SPDX-License-Identifier: MIT
"""The limits a request meets before xmlrpc-c parses it: the nesting cap
(fault 30 for elements nested deeper than 10,000, whatever
max-request-size allows) and max-request-size written with a K, M or G
suffix, as lockd.conf(5) says."""
import os
import pwd
import subprocess
import sys
import tempfile
import xmlrpc.client

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Daemon, LockdTestCase, main, http_request,  # noqa: E402
                     parse_http, raw_http, xmlrpc_post, xmlrpc_result)
from harness import (FAULT_PARAMS, FAULT_REFUSED,  # noqa: E402
                     FAULT_RESOURCE)

Fault = xmlrpc.client.Fault
MIB = 1 << 20
MAX_DEPTH = 10000       # lockd.conf(5), GATE_MAX_DEPTH in server/gate.c
VALUE_LEVELS = 64       # xmlrpc-c's XMLRPC_NESTING_LIMIT default
DEPTH_FAULT = ('Request refused: XML elements nested more than %d deep'
               % MAX_DEPTH)
HEAD = b'<?xml version="1.0"?>'


def call_body(method, *params):
    return xmlrpc.client.dumps(params, method, allow_none=True).encode()


def lock_with(value_xml):
    """A lock call whose first parameter is VALUE_XML (a <value>)."""
    return (HEAD + b'<methodCall><methodName>lock</methodName><params>'
            b'<param>' + value_xml + b'</param><param><value><string>deep'
            b'</string></value></param></params></methodCall>')


def nested(levels, kind=b'array', inner=b'<value><i4>1</i4></value>'):
    """A <value> of LEVELS arrays (or structs) around INNER; None: left
    unclosed."""
    if kind == b'array':
        opening, closing = b'<value><array><data>', b'</data></array></value>'
    else:
        opening = b'<value><struct><member><name>m</name>'
        closing = b'</member></struct></value>'
    if inner is None:
        return opening * levels
    return opening * levels + inner + closing * levels


def conf_file(testcase, text):
    fd, path = tempfile.mkstemp(prefix='lockd-limits-', suffix='.conf')
    with os.fdopen(fd, 'w') as f:
        f.write(text)
    testcase.addCleanup(os.unlink, path)
    return path


class Limited(LockdTestCase):
    """One daemon per test, started with the configuration CONF (None:
    none)."""
    # In bytes, so that a daemon that does not read the suffixes still
    # starts and shows what a deep request does to it.
    CONF = 'max-request-size 1048576\n'

    def setUp(self):
        if self.CONF is not None:
            self.d = self.start(self.CONF)

    def start(self, conf):
        d = Daemon(args=['--config', conf_file(self, conf)])
        self.addCleanup(d.close)
        d.start()
        self.addCleanup(self.assert_clean_exit, d)
        return d

    def assert_clean_exit(self, d):
        """SIGTERM ends D with status 0 (not so after a sanitizer's
        report)."""
        self.assertEqual(d.stop(), 0, 'exit status after SIGTERM; stderr:\n'
                         + d.stderr_text()[-4000:])

    def answer(self, body, d=None):
        """The result of POSTing BODY, or the Fault as (code, string)."""
        status, rbody = xmlrpc_post((d or self.d).port, body, timeout=30)
        self.assertEqual(status, 200, rbody[:300])
        try:
            return xmlrpc_result(rbody)
        except Fault as f:
            return (f.faultCode, f.faultString)

    def assert_serving(self, d=None):
        d = d or self.d
        self.assertTrue(d.alive(), 'daemon died; stderr:\n'
                        + d.stderr_text()[-2000:])
        p = d.proxy()
        self.assertIsNone(p.lock('after', 'c'))
        self.assertIsNone(p.unlock('after', 'c'))


class Nesting(Limited):

    def test_deep_requests_refused_and_daemon_serves(self):
        # Issue 13 item 2: 150,000 unclosed elements killed the daemon.
        for body in (HEAD + b'<a>' * 150000,
                     lock_with(nested(50000, inner=None)),
                     lock_with(nested(25000, b"struct", inner=None)),
                     # quoted '/' and '>' do not end or close a start tag
                     HEAD + b'<a b="/">' * 100000,
                     HEAD + b"<a b='>'>" * 100000,
                     # well-formed, closed: refused all the same
                     lock_with(nested(20000))):
            self.assertLess(len(body), MIB)
            self.assertEqual(self.answer(body), (FAULT_REFUSED, DEPTH_FAULT))
            self.assert_serving()

    def test_cap_is_exact(self):
        # MAX_DEPTH levels reach xmlrpc-c (unclosed: its parse fault),
        # one more is refused before it.
        code, _ = self.answer(HEAD + b'<a>' * MAX_DEPTH)
        self.assertEqual(code, -503)
        self.assertEqual(self.answer(HEAD + b'<a>' * (MAX_DEPTH + 1)),
                         (FAULT_REFUSED, DEPTH_FAULT))
        self.assert_serving()

    def test_largest_request_size(self):
        d = self.start('max-request-size 16777216\n')
        body = HEAD + b'<a>' * ((16 * MIB - len(HEAD)) // 3)
        self.assertEqual(self.answer(body, d), (FAULT_REFUSED, DEPTH_FAULT))
        self.assert_serving(d)

    def test_valid_nesting_at_the_limit_passes(self):
        # xmlrpc-c's limit: 64 value levels, the method sees the value
        for kind in (b'array', b'struct'):
            body = lock_with(nested(VALUE_LEVELS - 1, kind))
            self.assertEqual(self.answer(body), (
                FAULT_PARAMS, 'lock: parameter 1 (resource) must be a '
                'string, not %s' % kind.decode()))
        # the deepest valid shape: an empty array at the 64th level
        self.assertEqual(self.answer(lock_with(nested(
            VALUE_LEVELS - 1, inner=b'<value><array><data></data></array>'
            b'</value>')))[0], FAULT_PARAMS)
        # one level more is xmlrpc-c's own fault, as it always was
        code, msg = self.answer(lock_with(nested(VALUE_LEVELS)))
        self.assertEqual((code, msg), (-503, 'Call XML not a proper XML-RPC '
                                       'call.  Nested data structure too '
                                       'deep.'))
        # a real client's nesting: system.multicall
        p = self.d.proxy()
        m = xmlrpc.client.MultiCall(p)
        m.lock('multi', 'c')
        m.unlock('multi', 'c')
        self.assertEqual(list(m()), [None, None])
        self.assert_serving()

    def test_markup_without_elements_not_counted(self):
        many = b'<a>' * (MAX_DEPTH + 1)
        # comments, processing instructions and attribute values
        body = (HEAD + b'<!-- ' + many + b' --><?pi ' + many + b' ?>'
                + call_body('lock', 'odd', 'c').split(b'?>', 1)[1]
                .replace(b'<methodCall>', b'<methodCall x="/>" y=\'>\'>'))
        self.assertIsNone(self.answer(body))
        self.assertIsNone(self.d.proxy().unlock('odd', 'c'))
        # CDATA: the name is too long, but the request was parsed
        body = lock_with(b'<value><string><![CDATA[' + many
                         + b']]></string></value>')
        self.assertEqual(self.answer(body)[0], FAULT_RESOURCE)
        # 20,000 self-closing <nil/>: parsed, one parameter too many
        body = call_body('lock', 'nils', 'c', [None] * 20000)
        self.assertEqual(self.answer(body), (
            FAULT_PARAMS, 'lock takes 2 string parameters (resource, '
            'client), got 3'))
        self.assert_serving()


class Sizes(Limited):
    CONF = None

    def check(self, text):
        with tempfile.TemporaryDirectory() as locks:
            return subprocess.run(
                [os.environ['LOCKD'], '--check', '--config',
                 conf_file(self, text), '--lockdir', locks, '--user',
                 pwd.getpwuid(os.geteuid())[0]], capture_output=True,
                text=True, timeout=20, stdin=subprocess.DEVNULL)

    def test_check_accepts_suffixes(self):
        for value, size in (('1M', MIB), ('64K', 65536), ('64k', 65536),
                            ('16M', 16 * MIB), ('1m', MIB), ('1K', 1024),
                            ('1024', 1024), ('16777216', 16 * MIB)):
            r = self.check('max-request-size %s\n' % value)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn('\nmax-request-size %d\n' % size, r.stdout)

    def test_check_refuses_bad_values(self):
        for value in ('1X', '1.5M', '1MB', 'M', '17M', '1G', '1023', '0K',
                      '-1K', '+1K', '1 M'):
            r = self.check('# limits\nmax-request-size %s\n' % value)
            self.assertEqual(r.returncode, 1, value)
            self.assertRegex(r.stderr, r'\.conf:2: max-request-size must be '
                             r'a number of bytes from 1K to 16M \(with a K, '
                             r'M or G suffix or none\), not ')

    def assert_limit(self, d, limit):
        """Bodies up to LIMIT bytes are parsed, larger ones refused."""
        for size in (limit // 2, limit):
            name = 'x' * (size - len(call_body('lock', '', 'c')))
            body = call_body('lock', name, 'c')
            self.assertEqual(len(body), size)
            self.assertEqual(self.answer(body, d)[0], FAULT_RESOURCE)
        body = call_body('lock', 'x' * (limit + 1), 'c')
        resp = raw_http(d.port, http_request('POST', '/', body), timeout=30)
        self.assertEqual(parse_http(resp)[0], 500, resp[:300])
        self.assert_serving(d)

    def test_mebibyte_suffix(self):
        # 900 KB passes the size check: lock refuses the name, not HTTP
        d = self.start('max-request-size 1M\n')
        self.assertEqual(self.answer(call_body('lock', 'x' * 900000, 'c'),
                                     d)[0], FAULT_RESOURCE)
        self.assert_limit(d, MIB)

    def test_kibibyte_suffix(self):
        self.assert_limit(self.start('max-request-size 128K\n'), 128 * 1024)
        self.assert_limit(self.start('max-request-size 64k\n'), 64 * 1024)


if __name__ == '__main__':
    sys.exit(main())
