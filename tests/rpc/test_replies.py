# SPDX-License-Identifier: MIT
"""What answers look like on the wire (issue 13): tokens as <i4> when they
fit in 32 signed bits and <i8> only above, so that clients without i8 read
them and Python can send them back (PROTOCOL, "Tokens in answers")."""
import os
import re
import tempfile
import unittest
import xmlrpc.client

from harness import (CALL_TIMEOUT, Daemon, LockdTestCase, main,
                     skip_unless_dir, xmlrpc_post, xmlrpc_result)

TOKEN_FILE = '.token'       # the counter, "%020llu\n" (lib/dir/token.c)
MAXINT = 2 ** 31 - 1
CONF = 'break-lock yes\n'


def conf_daemon(text):
    """A Daemon reading the configuration TEXT (the file is removed when
    the test ends, by the caller's addCleanup)."""
    fd, path = tempfile.mkstemp(prefix='lockd-replies-', suffix='.conf')
    with os.fdopen(fd, 'w') as f:
        f.write(text)
    d = Daemon(args=['--config', path])
    d.conf_path = path
    return d


def raw_call(port, method, *params):
    """METHOD(*PARAMS) posted as Python marshals it: the raw reply body."""
    body = xmlrpc.client.dumps(params, method).encode('utf-8')
    status, rbody = xmlrpc_post(port, body, timeout=CALL_TIMEOUT)
    if status != 200:
        raise AssertionError('HTTP %d for %s' % (status, method))
    return rbody


def member_tokens(rbody, name='token'):
    """The (tag, value) of every member NAME of the reply RBODY."""
    return [(m.group(1).decode(), int(m.group(2))) for m in re.finditer(
        rb'<name>' + name.encode() + rb'</name>\s*<value>\s*<(i4|int|i8)>'
        rb'([0-9]+)</(?:i4|int|i8)>', rbody)]


class TokenWire(LockdTestCase):
    """Every answer that carries a token, raw, with the counter at BASE."""
    BASE = None                 # None: a fresh lock directory

    def setUp(self):
        self.d = conf_daemon(CONF)
        self.addCleanup(os.unlink, self.d.conf_path)
        if self.BASE is not None:
            with open(os.path.join(self.d.lockdir, TOKEN_FILE), 'w') as f:
                f.write('%020d\n' % self.BASE)
        self.d.start()
        self.addCleanup(self.d.__exit__, None, None, None)
        self.port = self.d.port

    def tag(self, token):
        return 'i4' if token <= MAXINT else 'i8'

    def assertTokens(self, rbody, name, count=1):
        got = member_tokens(rbody, name)
        self.assertEqual(len(got), count, rbody)
        for tag, value in got:
            self.assertEqual(tag, self.tag(value), rbody)
        return [value for _, value in got]

    def test_every_token_answer(self):
        # lock_token: the answer is the token itself.
        rbody = raw_call(self.port, 'lock_token', 'r1', 'c')
        t = xmlrpc_result(rbody)
        self.assertIn(b'<%s>%d</%s>' % ((self.tag(t).encode(), t,
                                          self.tag(t).encode())), rbody)
        if self.BASE is None:
            self.assertNotIn(b'i8>', rbody)
        # status and list: the token member.
        self.assertEqual(self.assertTokens(
            raw_call(self.port, 'status', 'r1'), 'token'), [t])
        self.assertEqual(self.assertTokens(
            raw_call(self.port, 'list', {'prefix': 'r1'}), 'token'), [t])
        # acquire, and history after the unlock.
        t2, = self.assertTokens(raw_call(self.port, 'acquire', 'r2', 'c',
                                         {'ttl': 60}), 'token')
        self.assertIsNone(xmlrpc_result(raw_call(self.port, 'unlock',
                                                 'r1', 'c')))
        self.assertEqual(self.assertTokens(
            raw_call(self.port, 'history', 'r1'), 'token'), [t])
        # break_lock: the broken holding's token and the new one.
        rbody = raw_call(self.port, 'break_lock', 'r2', 'test')
        self.assertEqual(self.assertTokens(rbody, 'token'), [t2])
        new, = self.assertTokens(rbody, 'new_token')
        self.assertGreater(new, t2)

    def test_python_sends_the_token_back(self):
        p = self.d.proxy()
        t = p.lock_token('r', 'c')
        if t > MAXINT:
            self.assertRaises(OverflowError, p.check, 'r', 'c', t)
            t = str(t)
        self.assertIs(p.check('r', 'c', t), True)
        g = p.acquire('l', 'c', {'ttl': 60})
        token = g['token'] if g['token'] <= MAXINT else str(g['token'])
        self.assertIs(p.renew('l', 'c', token)['reacquired'], True)
        self.assertIs(p.check('l', 'c', token), True)


@skip_unless_dir('plants the token counter file')
class LargeTokenWire(TokenWire):
    """The counter just below 2^31: the first token fits, the next not."""
    BASE = MAXINT - 1

    def test_the_boundary(self):
        p = self.d.proxy()
        self.assertIn(b'<i4>%d</i4>' % MAXINT,
                      raw_call(self.port, 'lock_token', 'a', 'c'))
        self.assertIn(b'<i8>%d</i8>' % (MAXINT + 1),
                      raw_call(self.port, 'lock_token', 'b', 'c'))
        self.assertEqual(p.status('a')['token'], MAXINT)


if __name__ == '__main__':
    main()
