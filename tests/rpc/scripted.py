# SPDX-License-Identifier: MIT
"""A scripted XML-RPC server for the lockcmd tests: answers lockd does not
give on demand, and a record of what lockcmd sent.

    class T(ScriptedServer, LockcmdTestCase):
        def test_x(self):
            status, out, err = self.answer(lambda method, params: None,
                                           'lock', 'r', 'c')
            self.server.calls     # [('lock', ('r', 'c'))]
"""
import http.server
import threading
import xmlrpc.client

HOST = '127.0.0.1'


def fault_xml(code, message):
    return xmlrpc.client.dumps(xmlrpc.client.Fault(code, message),
                               methodresponse=True).encode('utf-8')


def result_xml(value):
    return xmlrpc.client.dumps((value,), methodresponse=True,
                               allow_none=True).encode('utf-8')


class _ScriptedHandler(http.server.BaseHTTPRequestHandler):
    """Answers every POST with server.script(method, params) -> value, a
    Fault, or bytes (the body as it is)."""

    def do_POST(self):
        length = int(self.headers.get('Content-Length', '0'))
        body = self.rfile.read(length)
        params, method = xmlrpc.client.loads(body)
        self.server.calls.append((method, params))
        reply = self.server.script(method, params)
        if isinstance(reply, xmlrpc.client.Fault):
            reply = fault_xml(reply.faultCode, reply.faultString)
        elif not isinstance(reply, bytes):
            reply = result_xml(reply)
        self.send_response(200)
        self.send_header('Content-Type', 'text/xml')
        self.send_header('Content-Length', str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


class ScriptedServer:
    """TestCase mixin: a scripted server on self.url for each test (a
    server_class serving with handler_class); answer() runs
    self.lockcmd(*args) with SCRIPT answering."""
    server_class = http.server.ThreadingHTTPServer
    handler_class = _ScriptedHandler

    def setUp(self):
        self.server = self.server_class((HOST, 0), self.handler_class)
        self.server.daemon_threads = True
        self.server.calls = []
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={'poll_interval': 0.05},
                                       daemon=True)
        self.thread.start()
        self.url = 'http://%s:%d/' % (HOST, self.server.server_address[1])

    def tearDown(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)

    def answer(self, script, *args):
        self.server.script = script
        del self.server.calls[:]
        return self.lockcmd(*args)
