# SPDX-License-Identifier: MIT
"""The limits a request meets before xmlrpc-c parses it: the nesting cap
(fault 30 for elements nested deeper than 10,000, whatever
max-request-size allows)."""
import os
import sys
import tempfile
import xmlrpc.client

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Daemon, LockdTestCase, main,  # noqa: E402
                     xmlrpc_post, xmlrpc_result)
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
        return d

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


if __name__ == '__main__':
    sys.exit(main())
