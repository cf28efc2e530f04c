#!/usr/bin/env python3
"""A webhook receiver for trying the shop's deliveries by hand and for the benchmark.

Prints each delivery's Standard Webhooks headers and body, checks its signature when
given the endpoint's secret, and counts distinct webhook-ids (a retry has the same one).
GET /count answers {"received": N, "unique": M, "bad_signatures": K}.

    python3 scripts/webhook-receiver.py --port 9000 --secret whsec_...   # print every delivery
    python3 scripts/webhook-receiver.py --port 9000 --quiet              # count only (benchmarks)
"""
import argparse
import base64
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--port", type=int, default=9000)
parser.add_argument("--secret", help="the endpoint's whsec_ secret, to check signatures")
parser.add_argument("--quiet", action="store_true", help="print nothing per delivery")
args = parser.parse_args()

key = base64.b64decode(args.secret[len("whsec_"):]) if args.secret else None
lock = threading.Lock()
seen = set()
counts = {"received": 0, "unique": 0, "bad_signatures": 0}


def signature_ok(msg_id, timestamp, body, header):
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(part, "v1," + expected) for part in header.split(" "))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_):
        pass

    def answer(self, status, body=b""):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with lock:
            self.answer(200, json.dumps(counts).encode())

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        msg_id = self.headers.get("webhook-id", "")
        timestamp = self.headers.get("webhook-timestamp", "")
        signature = self.headers.get("webhook-signature", "")
        valid = key is None or signature_ok(msg_id, timestamp, body, signature)
        with lock:
            counts["received"] += 1
            if msg_id not in seen:
                seen.add(msg_id)
                counts["unique"] += 1
            if not valid:
                counts["bad_signatures"] += 1
        if not args.quiet:
            event = json.loads(body or b"{}")
            check = "signature ok" if key and valid else ("BAD SIGNATURE" if key else "signature not checked")
            print(f"webhook-id: {msg_id}\nwebhook-timestamp: {timestamp}\nwebhook-signature: {signature}\n"
                  f"{event.get('type')} for order {event.get('data', {}).get('id')} "
                  f"(status {event.get('data', {}).get('status')}): {check}\n", flush=True)
        self.answer(200 if valid else 401)


ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()
