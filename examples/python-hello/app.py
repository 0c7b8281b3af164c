"""A minimal prosper app: standard library only, listens on $PORT."""

import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/healthz":
            self.reply(200, "text/plain", b"ok\n")
        elif self.path == "/":
            body = json.dumps({"message": "hello from python", "python": sys.version.split()[0]})
            self.reply(200, "application/json", body.encode() + b"\n")
        else:
            self.reply(404, "application/json", b'{"error": "not found"}\n')

    def reply(self, status, content_type, body):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        # One line per request on stderr, which prosper captures as the app's log.
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))


def main():
    port = int(os.environ.get("PORT", "8080"))
    server = ThreadingHTTPServer(("", port), Handler)
    # SIGTERM is how the platform stops a release: finish cleanly instead of
    # dying with a traceback.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("listening on port %d" % port, flush=True)
    try:
        server.serve_forever()
    except SystemExit:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
