#!/usr/bin/env python3
"""A webhook receiver for trying the shop's deliveries by hand and for the benchmark.

Prints each delivery's Standard Webhooks headers and body, checks its signature when
given the endpoint's secret, and counts distinct webhook-ids (a retry has the same one).
GET /count answers {"received": N, "unique": M, "bad_signatures": K}.

    python3 scripts/webhook-receiver.py --port 9000 --secret whsec_...   # print every delivery
    python3 scripts/webhook-receiver.py --port 9000 --quiet              # count only (benchmarks)
"""
import argparse
import asyncio
import base64
import hashlib
import hmac
import json

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--port", type=int, default=9000)
parser.add_argument("--secret", help="the endpoint's whsec_ secret, to check signatures")
parser.add_argument("--quiet", action="store_true", help="print nothing per delivery")
args = parser.parse_args()

key = base64.b64decode(args.secret[len("whsec_"):]) if args.secret else None
seen = set()
counts = {"received": 0, "unique": 0, "bad_signatures": 0}


def signature_ok(msg_id, timestamp, body, header):
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(part, "v1," + expected) for part in header.split(" "))


def receive(headers, body):
    """Counts one delivery and prints it unless quiet; the status code to answer."""
    msg_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    signature = headers.get("webhook-signature", "")
    valid = key is None or signature_ok(msg_id, timestamp, body, signature)
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
    return 200 if valid else 401


# HTTP/1.1 with keep-alive on one asyncio loop: the benchmark runs this beside the server on the same cores, so it
# should cost as little CPU per delivery as a receiver elsewhere would cost the shop (http.server took 4-5x more).
async def connection(reader, writer):
    try:
        while True:
            request_line = await reader.readline()
            if not request_line.strip():
                break
            method = request_line.split(b" ", 1)[0]
            headers = {}
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", 0) or 0))
            if method == b"GET":
                status, answer = 200, json.dumps(counts).encode()
            else:
                status, answer = receive(headers, body), b""
            reason = {200: "OK", 401: "Unauthorized"}[status]
            writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {len(answer)}\r\n\r\n".encode() + answer)
            await writer.drain()
            if headers.get("connection", "").lower() == "close":
                break
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def main():
    server = await asyncio.start_server(connection, "127.0.0.1", args.port)
    async with server:
        await server.serve_forever()


asyncio.run(main())
