# SPDX-License-Identifier: MIT
"""status(resource) and list(options) of the real daemon, through Python's
xmlrpc.client: answers, names XML cannot carry (base64), gocept.lockd's
lock files, paging, filters, bad options, and listing while locks change.

Lock files written by hand use lockd's format, "CLIENT\\nresource
<percent-encoded name>\\nsince <epoch>\\n", or gocept.lockd's (the client
name alone), under "<name>.resource.lock".
"""
import datetime
import os
import re
import sys
import tempfile
import threading
import time
import unittest
import xmlrpc.client

from harness import CALL_TIMEOUT, Daemon, LockdTestCase, SharedDaemon, main
from harness import (FAULT_DENIED, FAULT_HELD, FAULT_NOT_OWNER, FAULT_PARAMS,
                     FAULT_REFUSED, FAULT_RESOURCE, FAULT_STATE)

SUFFIX = '.resource.lock'
Binary = xmlrpc.client.Binary
DateTime = xmlrpc.client.DateTime


def pct(name):
    """Percent-encoding of lockd's lock files: '%', controls and DEL."""
    out = []
    for b in name.encode('utf-8') if isinstance(name, str) else name:
        if b < 0x20 or b == 0x7f or b == 0x25:
            out.append('%%%02X' % b)
        else:
            out.append(chr(b))
    return ''.join(out)


def write_lock(lockdir, fname, content):
    """Writes lock file FNAME (str or bytes, without SUFFIX) in LOCKDIR."""
    if isinstance(fname, str):
        fname = fname.encode('utf-8')
    if isinstance(content, str):
        content = content.encode('utf-8')
    with open(os.path.join(os.fsencode(lockdir), fname + SUFFIX.encode()),
              'wb') as f:
        f.write(content)


def write_lockd_lock(lockdir, resource, client, since, fname=None):
    """A lock file as lockd writes it; FNAME defaults to RESOURCE (plain)."""
    write_lock(lockdir, resource if fname is None else fname,
               '%s\nresource %s\nsince %d\n' % (client, pct(resource),
                                                 since))


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def since_of(value):
    """The datetime (naive, UTC) of a 'since' member."""
    return datetime.datetime.strptime(value.value, '%Y%m%dT%H:%M:%S')


def name_bytes(v):
    """A name from an answer as bytes: str (UTF-8) or Binary."""
    if isinstance(v, Binary):
        return v.data
    return v.encode('utf-8')


def list_all(proxy, options=None, max_pages=10000):
    """(locks, pages): every lock of a listing, paging until next is ''."""
    options = dict(options or {})
    locks, pages = [], []
    after = ''
    for _ in range(max_pages):
        if after:
            options['after'] = after
        page = proxy.list(options)
        pages.append(page)
        locks.extend(page['locks'])
        after = page['next']
        if after == '':
            return locks, pages
    raise AssertionError('listing did not end within %d pages' % max_pages)


class InspectTestCase(LockdTestCase):

    def assertSince(self, st, before, after):
        """ST has a 'since' DateTime from BEFORE to AFTER (UTC, +-2 s)."""
        self.assertIsInstance(st['since'], DateTime)
        got = since_of(st['since'])
        slack = datetime.timedelta(seconds=2)
        self.assertGreaterEqual(got, before.replace(microsecond=0) - slack)
        self.assertLessEqual(got, after + slack)


class StatusTest(SharedDaemon, InspectTestCase):
    """status() on one daemon; every test uses names of its own."""

    def setUp(self):
        self.p = self.daemon.proxy()
        self.lockdir = self.daemon.lockdir

    def name(self, suffix=''):
        return 'st-%s%s' % (self.id().rsplit('.', 1)[-1], suffix)

    def test_unlocked_lock_unlock_cycle(self):
        r = self.name()
        self.assertEqual(self.p.status(r), {'resource': r, 'held': False})
        before = utc_now()
        self.assertIsNone(self.p.lock(r, 'host1'))
        after = utc_now()
        st = self.p.status(r)
        self.assertEqual(set(st), {'resource', 'held', 'holder', 'since',
                                   'token'})
        self.assertEqual((st['resource'], st['held'], st['holder']),
                         (r, True, 'host1'))
        self.assertSince(st, before, after)
        # Asking does not change anything.
        self.assertEqual(self.p.status(r), st)
        self.assertIsNone(self.p.unlock(r, 'host1'))
        self.assertEqual(self.p.status(r), {'resource': r, 'held': False})

    def test_since_is_utc(self):
        # 1700000000 is 2023-11-14 22:13:20 UTC.
        r = self.name()
        write_lockd_lock(self.lockdir, r, 'host2', 1700000000)
        st = self.p.status(r)
        self.assertEqual(st['since'].value, '20231114T22:13:20')
        self.assertEqual(st['holder'], 'host2')
        self.assertIsNone(self.p.unlock(r, 'host2'))

    def test_legacy_lock_file(self):
        r = self.name()
        for content in ('host7', 'host7\n'):
            write_lock(self.lockdir, r, content)
            self.assertEqual(self.p.status(r), {'resource': r, 'held': True,
                                                'holder': 'host7'})
        self.assertFault(FAULT_NOT_OWNER,
                         "Resource locked by 'host7' cannot be unlocked "
                         "by 'x'", self.p.unlock, r, 'x')
        self.assertIsNone(self.p.unlock(r, 'host7'))
        self.assertEqual(self.p.status(r), {'resource': r, 'held': False})

    def test_empty_legacy_file_is_held_by_empty_name(self):
        r = self.name()
        write_lock(self.lockdir, r, '')
        self.assertEqual(self.p.status(r), {'resource': r, 'held': True,
                                            'holder': ''})
        os.unlink(os.path.join(self.lockdir, r + SUFFIX))

    def test_names_lockd_escapes_or_hashes(self):
        names = ['a/b/../c', '/abs', '50%', '%41', '.hidden', '..', 'ü€中文',
                 'tab\there', 'new\nline', '<&>"\'', 'x' * 4096,
                 'é' * 2048, '%' * 4096, '/' * 100]
        for i, r in enumerate(names):
            with self.subTest(r=r[:20]):
                client = 'cliënt-%d' % i
                self.assertEqual(self.p.status(r), {'resource': r,
                                                    'held': False})
                self.assertIsNone(self.p.lock(r, client))
                st = self.p.status(r)
                self.assertEqual((st['resource'], st['held'],
                                  st['holder']), (r, True, client))
                self.assertIsInstance(st['since'], DateTime)
                self.assertIsNone(self.p.unlock(r, client))
                self.assertEqual(self.p.status(r), {'resource': r,
                                                    'held': False})

    def test_carriage_return_arrives_as_line_feed(self):
        r = self.name('a\rb')
        self.assertIsNone(self.p.lock(r, 'c'))
        st = self.p.status(r)
        self.assertEqual(st['resource'], r.replace('\r', '\n'))
        self.assertEqual(self.p.status(r.replace('\r', '\n'))['holder'],
                         'c')
        self.assertIsNone(self.p.unlock(r, 'c'))

    def test_control_character_name_comes_back_as_base64(self):
        # DEL travels in XML, but is a control character: base64 back.
        r = self.name('a\x7fb')
        self.assertEqual(self.p.status(r), {'resource': Binary(r.encode()),
                                            'held': False})
        self.assertIsNone(self.p.lock(r, 'c'))
        st = self.p.status(r)
        self.assertIsInstance(st['resource'], Binary)
        self.assertEqual(st['resource'].data, r.encode())
        self.assertEqual((st['held'], st['holder']), (True, 'c'))
        self.assertIsNone(self.p.unlock(r, 'c'))

    def test_holder_with_control_character_comes_back_as_base64(self):
        # Only a lock file written by another program can hold one.
        r = self.name()
        write_lock(self.lockdir, r, b'ho\x01st\r\n')
        st = self.p.status(r)
        self.assertEqual(st['resource'], r)
        self.assertIsInstance(st['holder'], Binary)
        # A trailing CR of the first line belongs to the line break.
        self.assertEqual(st['holder'].data, b'ho\x01st')
        os.unlink(os.path.join(self.lockdir, r + SUFFIX))

    def test_invalid_lock_state(self):
        r = self.name()
        link = os.path.join(self.lockdir, r + '-link' + SUFFIX)
        os.symlink('elsewhere', link)
        self.assertFault(FAULT_STATE, re.compile(r'Invalid lock state: .*'),
                         self.p.status, r + '-link')
        os.unlink(link)
        os.mkdir(os.path.join(self.lockdir, r + '-dir' + SUFFIX))
        self.assertFault(FAULT_STATE, re.compile(r'Invalid lock state: .*'),
                         self.p.status, r + '-dir')
        os.rmdir(os.path.join(self.lockdir, r + '-dir' + SUFFIX))

    def test_legacy_file_of_a_name_lockd_escapes(self):
        # gocept.lockd wrote '50%' and '.x' under their own names.
        for r in (self.name('-50%'), '.' + self.name()):
            write_lock(self.lockdir, r, 'host7')
            self.assertEqual(self.p.status(r), {'resource': r, 'held': True,
                                                'holder': 'host7'})
            self.assertFault(FAULT_HELD, "Resource already locked by 'host7'",
                             self.p.lock, r, 'other')
            self.assertIsNone(self.p.unlock(r, 'host7'))
            self.assertEqual(self.p.status(r), {'resource': r,
                                                'held': False})

    def test_bad_parameters(self):
        self.assertFault(FAULT_PARAMS, None, self.p.status)
        self.assertFault(FAULT_PARAMS, None, self.p.status, 'a', 'b')
        for bad in (1, None, ['a'], {'a': 1}, Binary(b'a'), 1.5, True):
            self.assertFault(FAULT_PARAMS, None, self.p.status, bad)

    def test_bad_names(self):
        self.assertFault(FAULT_RESOURCE, 'Invalid resource name: it is empty',
                         self.p.status, '')
        self.assertFault(FAULT_RESOURCE,
                         'Invalid resource name: longer than 4096 bytes',
                         self.p.status, 'x' * 4097)

    def test_unsendable_names(self):
        # XML cannot carry \x01 at all: the request itself is refused.
        with self.assertRaises(xmlrpc.client.Fault) as cm:
            self.p.status('a\x01b')
        self.assertIn(cm.exception.faultCode, (-503, FAULT_REFUSED))

    def test_multicall(self):
        r = self.name()
        self.assertIsNone(self.p.lock(r, 'c'))
        mc = xmlrpc.client.MultiCall(self.p)
        mc.status(r)
        mc.status(self.name('-free'))
        mc.list({'prefix': r})
        st, free, page = tuple(mc())
        self.assertEqual((st['held'], free['held']), (True, False))
        self.assertEqual(page['locks'], [st])
        self.assertEqual(page['next'], '')
        self.assertIsNone(self.p.unlock(r, 'c'))


class ListTest(InspectTestCase):
    """list() on a fresh lock directory for every test."""

    def setUp(self):
        self.daemon = None

    def tearDown(self):
        if self.daemon is not None:
            self.daemon.__exit__(None, None, None)

    def start(self, setup=None):
        """Starts lockd on a new directory, after SETUP(lockdir)."""
        self.daemon = Daemon()
        if setup is not None:
            setup(self.daemon.lockdir)
        self.daemon.start()
        self.p = self.daemon.proxy()
        return self.p

    def lock_all(self, names, client='c'):
        """Takes NAMES (resource -> client, or a list) with multicalls."""
        items = names.items() if isinstance(names, dict) else \
            [(n, client) for n in names]
        items = list(items)
        for i in range(0, len(items), 200):
            mc = xmlrpc.client.MultiCall(self.p)
            for r, c in items[i:i + 200]:
                mc.lock(r, c)
            self.assertEqual(list(mc()), [None] * len(items[i:i + 200]))

    def resources(self, locks):
        return [l['resource'] for l in locks]

    def test_empty_directory(self):
        p = self.start()
        self.assertEqual(p.list({}), {'locks': [], 'next': ''})
        self.assertEqual(p.list({'limit': 1}), {'locks': [], 'next': ''})
        self.assertEqual(p.list({'prefix': 'x', 'holder': 'y'}),
                         {'locks': [], 'next': ''})

    def test_lock_entries_are_status_structs(self):
        p = self.start()
        before = utc_now()
        p.lock('vm1', 'host1')
        after = utc_now()
        page = p.list({})
        self.assertEqual(page['next'], '')
        self.assertEqual(len(page['locks']), 1)
        lock = page['locks'][0]
        self.assertEqual(set(lock), {'resource', 'held', 'holder',
                                     'since', 'token'})
        self.assertEqual((lock['resource'], lock['held'], lock['holder']),
                         ('vm1', True, 'host1'))
        self.assertSince(lock, before, after)
        self.assertEqual(lock, p.status('vm1'))
        p.unlock('vm1', 'host1')
        self.assertEqual(p.list({}), {'locks': [], 'next': ''})

    def test_pages_of_ten(self):
        p = self.start()
        names = ['r%02d' % i for i in range(25)]
        self.lock_all(names[::-1])
        locks, pages = list_all(p, {'limit': 10})
        self.assertEqual([len(pg['locks']) for pg in pages], [10, 10, 5])
        self.assertNotEqual(pages[0]['next'], '')
        self.assertNotEqual(pages[1]['next'], '')
        self.assertEqual(pages[2]['next'], '')
        self.assertEqual(self.resources(locks), names)  # ascending, once
        # A page's cursor is repeatable: the same page again.
        again = p.list({'limit': 10, 'after': pages[0]['next']})
        self.assertEqual(again, pages[1])

    def test_limits(self):
        p = self.start()
        names = ['n%d' % i for i in range(5)]
        self.lock_all(names)
        for limit in (1, 4, 5, 6, 10000):
            locks, pages = list_all(p, {'limit': limit})
            self.assertEqual(self.resources(locks), names, limit)
            self.assertTrue(all(len(pg['locks']) <= limit for pg in pages))
        # Exactly full last page: next may only be '' or lead to an empty
        # page; either way no lock twice.
        locks, pages = list_all(p, {'limit': 5})
        self.assertLessEqual(len(pages), 2)

    def test_default_limit_pages_two_thousand(self):
        now = int(time.time())

        def setup(lockdir):
            for i in range(2000):
                write_lockd_lock(lockdir, 'big%05d' % i, 'h%d' % (i % 3),
                                 now)
        p = self.start(setup)
        locks, pages = list_all(p)
        self.assertEqual([len(pg['locks']) for pg in pages], [1000, 1000])
        self.assertEqual(pages[-1]['next'], '')
        self.assertEqual(self.resources(locks),
                         ['big%05d' % i for i in range(2000)])
        self.assertTrue(all(l['since'].value == pages[0]['locks'][0]
                            ['since'].value for l in locks))
        locks, pages = list_all(p, {'holder': 'h1'})
        self.assertEqual(self.resources(locks),
                         ['big%05d' % i for i in range(2000) if i % 3 == 1])

    def test_prefix_and_holder_filters(self):
        p = self.start()
        self.lock_all({'vm1': 'hostA', 'vm2': 'hostB', 'vm10': 'hostA',
                       'db1': 'hostA', 'db2': 'hostB', 'v': 'hostB'})

        def names(options):
            return self.resources(list_all(p, options)[0])
        self.assertEqual(names({'prefix': 'vm'}), ['vm1', 'vm10', 'vm2'])
        self.assertEqual(names({'prefix': 'db'}), ['db1', 'db2'])
        self.assertEqual(names({'prefix': 'v'}), ['v', 'vm1', 'vm10', 'vm2'])
        self.assertEqual(names({'prefix': 'vm1'}), ['vm1', 'vm10'])
        self.assertEqual(names({'prefix': 'x'}), [])
        self.assertEqual(names({'prefix': ''}), names({}))
        self.assertEqual(len(names({})), 6)
        self.assertEqual(names({'holder': 'hostA'}), ['db1', 'vm1', 'vm10'])
        self.assertEqual(names({'holder': 'hostB'}), ['db2', 'v', 'vm2'])
        self.assertEqual(names({'holder': 'hostC'}), [])
        self.assertEqual(names({'holder': 'hosta'}), [])
        self.assertEqual(names({'prefix': 'vm', 'holder': 'hostA'}),
                         ['vm1', 'vm10'])
        self.assertEqual(names({'prefix': 'db', 'holder': 'hostB'}),
                         ['db2'])
        self.assertEqual(names({'prefix': 'vm', 'holder': 'hostA',
                                'limit': 1}), ['vm1', 'vm10'])

    def test_prefix_on_escaped_and_hashed_names(self):
        p = self.start()
        long_a = 'a/' + 'z' * 4000
        self.lock_all(['a/b', 'a/c', 'ab', '%x', '50%', '.hidden', '.',
                       'a', long_a, 'é/1', 'é2'])

        def names(options):
            return sorted(self.resources(list_all(p, options)[0]))
        self.assertEqual(names({'prefix': 'a/'}), sorted(['a/b', 'a/c',
                                                          long_a]))
        self.assertEqual(names({'prefix': 'a'}), sorted(['a', 'a/b', 'a/c',
                                                         'ab', long_a]))
        self.assertEqual(names({'prefix': '%'}), ['%x'])
        self.assertEqual(names({'prefix': '50'}), ['50%'])
        self.assertEqual(names({'prefix': '.'}), ['.', '.hidden'])
        self.assertEqual(names({'prefix': 'a/' + 'z' * 3000}), [long_a])
        self.assertEqual(names({'prefix': 'é'}), ['é/1', 'é2'])
        self.assertEqual(names({'prefix': 'é/'}), ['é/1'])
        self.assertEqual(len(names({})), 11)
        # Pages of one still give each lock once.
        self.assertEqual(names({'limit': 1}), names({}))

    def test_legacy_files_are_listed(self):
        def setup(lockdir):
            write_lock(lockdir, 'old1', 'host7')
            write_lock(lockdir, 'old2', 'host8\n')
            write_lock(lockdir, 'old3', '')
            write_lockd_lock(lockdir, 'new1', 'host9', 1700000000)
        p = self.start(setup)
        locks = list_all(p)[0]
        self.assertEqual(locks, [
            {'resource': 'new1', 'held': True, 'holder': 'host9',
             'since': DateTime('20231114T22:13:20')},
            {'resource': 'old1', 'held': True, 'holder': 'host7'},
            {'resource': 'old2', 'held': True, 'holder': 'host8'},
            {'resource': 'old3', 'held': True, 'holder': ''}])
        self.assertEqual(self.resources(list_all(p, {'holder': ''})[0]),
                         ['old3'])

    def test_legacy_file_of_a_name_lockd_escapes_is_listed(self):
        def setup(lockdir):
            write_lock(lockdir, '50%', 'host8')
            write_lock(lockdir, 'x%41', 'host9')
        p = self.start(setup)
        self.assertEqual(list_all(p)[0], [
            {'resource': '50%', 'held': True, 'holder': 'host8'},
            {'resource': 'x%41', 'held': True, 'holder': 'host9'}])
        self.assertEqual(self.resources(list_all(p, {'prefix': '50'})[0]),
                         ['50%'])

    def test_legacy_file_with_leading_dot_is_listed(self):
        # KNOWN DISAGREEMENT (reported to the lead): status('.hidden') and
        # lock('.hidden', ...) see gocept.lockd's '.hidden.resource.lock'
        # as held, but list skips every file name starting with '.', so
        # "the held locks" miss it.  Remove expectedFailure once fixed.
        def setup(lockdir):
            write_lock(lockdir, '.hidden', 'host7')
        p = self.start(setup)
        self.assertTrue(p.status('.hidden')['held'])
        self.assertEqual(list_all(p)[0], [
            {'resource': '.hidden', 'held': True, 'holder': 'host7'}])

    def test_not_lock_files_are_skipped(self):
        def setup(lockdir):
            write_lock(lockdir, 'ok', 'h')
            os.mkdir(os.path.join(lockdir, 'dir' + SUFFIX))
            os.symlink('ok' + SUFFIX, os.path.join(lockdir, 'link' + SUFFIX))
            with open(os.path.join(lockdir, 'other.txt'), 'w') as f:
                f.write('h')
            with open(os.path.join(lockdir, '.tmp.1.2' + SUFFIX), 'w') as f:
                f.write('h')
        p = self.start(setup)
        self.assertEqual(self.resources(list_all(p)[0]), ['ok'])

    def test_names_xml_cannot_carry_come_back_as_base64(self):
        def setup(lockdir):
            # lockd's own format: the control character escaped.
            write_lockd_lock(lockdir, 'a\x01b', 'h1', 1700000000,
                             fname='a%01b')
            # gocept.lockd's: the raw name, a holder with a control byte.
            write_lock(lockdir, b'c\x1bd', b'h\x02')
            write_lock(lockdir, b'e\rf', 'h3')
            write_lock(lockdir, 'tab\tnl', 'h4')
            # Not UTF-8, and beyond the BMP (xmlrpc-c sends neither as a
            # string).
            write_lock(lockdir, b'caf\xe9', b'h\xe9')
            write_lock(lockdir, '\U0001F600', 'h6')
        p = self.start(setup)
        locks = list_all(p)[0]
        got = {name_bytes(l['resource']): l for l in locks}
        self.assertEqual(set(got), {b'a\x01b', b'c\x1bd', b'e\rf',
                                    b'tab\tnl', b'caf\xe9',
                                    '\U0001F600'.encode()})
        self.assertIsInstance(got[b'a\x01b']['resource'], Binary)
        self.assertEqual(got[b'a\x01b']['holder'], 'h1')
        self.assertEqual(got[b'a\x01b']['since'].value, '20231114T22:13:20')
        self.assertIsInstance(got[b'c\x1bd']['resource'], Binary)
        self.assertIsInstance(got[b'c\x1bd']['holder'], Binary)
        self.assertEqual(got[b'c\x1bd']['holder'].data, b'h\x02')
        self.assertIsInstance(got[b'e\rf']['resource'], Binary)
        # Tab and line feed travel as they are.
        self.assertEqual(got[b'tab\tnl']['resource'], 'tab\tnl')
        self.assertIsInstance(got[b'caf\xe9']['resource'], Binary)
        self.assertEqual(got[b'caf\xe9']['holder'].data, b'h\xe9')
        # Prefixes select by bytes, also for names that come back base64.
        self.assertEqual([name_bytes(l['resource']) for l in
                          list_all(p, {'prefix': 'a'})[0]], [b'a\x01b'])
        self.assertEqual([name_bytes(l['resource']) for l in
                          list_all(p, {'prefix': 'caf'})[0]], [b'caf\xe9'])
        # The escaped lockd file is the lock of 'a\x01b', which XML cannot
        # send; its neighbour 'a%01b' (a different name) is not locked.
        self.assertEqual(p.status('a%01b'), {'resource': 'a%01b',
                                             'held': False})

    def test_bad_options(self):
        p = self.start()
        p.lock('x', 'c')
        for options in ({'limit': 0}, {'limit': -1}, {'limit': 10001},
                        {'limit': 2 ** 31 - 1}, {'limit': '10'},
                        {'limit': 1.5}, {'limit': True}, {'limit': None},
                        {'prefix': 5}, {'prefix': None},
                        {'prefix': Binary(b'x')}, {'prefix': ['x']},
                        {'holder': 5}, {'holder': True},
                        {'after': 5}, {'after': 'not a cursor'},
                        {'after': 'zz'}, {'after': '7'}, {'after': '00'},
                        {'after': 'ab' * 300}):
            with self.subTest(options=options):
                self.assertFault(FAULT_PARAMS, None, p.list, options)
        for args in ((), ({}, {}), ('x',), (None,), ([],), (1,)):
            with self.subTest(args=args):
                self.assertFault(FAULT_PARAMS, None, p.list, *args)
        # The bounds themselves are accepted.
        self.assertEqual(len(p.list({'limit': 1})['locks']), 1)
        self.assertEqual(len(p.list({'limit': 10000})['locks']), 1)

    def test_unknown_option_members_are_ignored(self):
        # PROTOCOL lists the members, all optional; lockd ignores others
        # (as it ignores unknown keys in lock files), so newer clients can
        # send options older daemons do not know.
        p = self.start()
        p.lock('x', 'c')
        self.assertEqual(self.resources(p.list({'colour': 'red',
                                                'Limit': 0})['locks']),
                         ['x'])

    def test_listing_while_locks_change(self):
        stable = ['s%04d' % i for i in range(0, 400, 2)]
        churn = ['s%04d' % i for i in range(1, 400, 2)]
        now = int(time.time())

        def setup(lockdir):
            for r in stable:
                write_lockd_lock(lockdir, r, 'keeper', now)
        p = self.start(setup)
        stop = threading.Event()
        errors = []
        changes = [0]

        def churner():
            q = self.daemon.proxy()
            try:
                while not stop.is_set():
                    for r in churn:
                        if stop.is_set():
                            break
                        q.lock(r, 'churner')
                        changes[0] += 1
                    for r in churn:
                        if stop.is_set():
                            break
                        q.unlock(r, 'churner')
                        changes[0] += 1
            except Exception as e:      # reported by the main thread
                errors.append(e)
        t = threading.Thread(target=churner, daemon=True)
        t.start()
        try:
            deadline = time.monotonic() + 60
            listings = 0
            while listings < 8 and time.monotonic() < deadline:
                for limit in (7, 50):
                    locks, pages = list_all(p, {'limit': limit})
                    names = self.resources(locks)
                    self.assertEqual(len(names), len(set(names)),
                                     'a lock listed twice')
                    self.assertEqual(names, sorted(names))
                    self.assertTrue(set(stable) <= set(names),
                                    'missing: %r'
                                    % sorted(set(stable) - set(names))[:5])
                    self.assertTrue(set(names) <= set(stable) | set(churn))
                    for l in locks:
                        self.assertEqual(l['holder'],
                                         'keeper' if l['resource'] in
                                         stable else 'churner')
                    listings += 1
        finally:
            stop.set()
            t.join(CALL_TIMEOUT + 10)
        self.assertFalse(t.is_alive())
        self.assertEqual(errors, [])
        self.assertGreater(changes[0], 0)
        self.assertGreaterEqual(listings, 2)


class AccessTest(LockdTestCase):
    """status and list obey the allow-list like lock and unlock."""

    def test_allow_list_refuses(self):
        with tempfile.TemporaryDirectory(prefix='lockd-inspect-') as tmp:
            conf = os.path.join(tmp, 'lockd.conf')
            with open(conf, 'w') as f:
                f.write('allow 10.0.0.0/8\n')
            with Daemon(args=['--config', conf]) as d:
                p = d.proxy()
                self.assertFault(FAULT_DENIED, None, p.status, 'x')
                self.assertFault(FAULT_DENIED, None, p.list, {})


if __name__ == '__main__':
    sys.exit(main())
