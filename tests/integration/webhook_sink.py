#!/usr/bin/env python3
# webhook_sink.py LOG FAILS: an HTTP receiver for job webhooks. Answers the first FAILS POSTs
# with 500 and the rest with 200; appends one JSON line per POST to LOG
# ({"status": answered, "body": the decoded body}). Prints "port N" once listening.
import http.server
import json
import sys

log, fails = sys.argv[1], int(sys.argv[2])
seen = 0


class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        global seen
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        seen += 1
        status = 500 if seen <= fails else 200
        with open(log, "a") as f:
            f.write(json.dumps({"status": status, "body": json.loads(body)}) + "\n")
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


s = http.server.HTTPServer(("127.0.0.1", 0), H)
print("port", s.server_address[1], flush=True)
s.serve_forever()
