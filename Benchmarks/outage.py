"""Outage test: a light mixed load (catalog reads, one-line orders with Idempotency-Keys) while the caller stops
and restarts a database; records every answer, then prints per 5-second window the answers by status and the
longest wait, and checks the rules.

    outage.py load   BASE TOKENS PRODUCTS SECONDS LOG     # runs SECONDS, writes one JSON line per answer to LOG
    outage.py report BASE TOKENS LOG EVENTS               # EVENTS: "t label" lines (epoch seconds) to mark

Rules: no request waited longer than 3 s, no 500 (any 5xx but 503), every 201 order exists afterwards.
An order answered 503, cut off, or `idempotency_key_in_use` (a claim the outage left running, taken over after
60 s) is retried with the same key and body, as a client would.
Standard library only; 127.0.0.1 only; bounded by SECONDS.
"""

import http.client
import json
import random
import sys
import threading
import time
import urllib.parse
import uuid

MAX_WAIT = 3.0


def request(base, method, path, token=None, body=None, key=None, timeout=15):
    url = urllib.parse.urlparse(base)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if key:
        headers["Idempotency-Key"] = key
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        return response.status, (json.loads(payload) if payload else {})
    finally:
        connection.close()


def load(base, tokens, products, seconds, log_path):
    end = time.time() + seconds
    lock = threading.Lock()
    log = open(log_path, "w")

    def record(entry):
        with lock:
            log.write(json.dumps(entry) + "\n")

    def client(index, token):
        rng = random.Random(time.time_ns() + index)
        pending = None  # an order whose outcome is unknown: retried with the same key and body
        while time.time() < end:
            if rng.random() < 0.5:  # reads go on while an order waits for its retry
                kind = "catalog"
                path = (f"/api/catalog/products/{rng.choice(products)}/" if rng.random() < 0.5
                        else f"/api/catalog/products/?limit=20&offset={rng.randint(0, 180)}")
                method, body, key = "GET", None, None
            else:
                kind = "order"
                if pending is None:
                    pending = (str(uuid.uuid4()), json.dumps({"order_items": [{"product": rng.choice(products), "quantity": 1}]}))
                key, body = pending
                method, path = "POST", "/api/orders/orders/"
            started = time.time()
            try:
                status, reply = request(base, method, path, token if kind == "order" else None, body, key)
            except (OSError, http.client.HTTPException) as error:
                status, reply = 0, {"error": str(error)}
            waited = time.time() - started
            entry = {"t": started, "wait": waited, "kind": kind, "status": status, "code": reply.get("code")}
            if kind == "order" and status == 201:
                entry.update(order=reply.get("id"), customer=index, replayed=False)
            record(entry)
            retry = status in (0, 503) or reply.get("code") == "idempotency_key_in_use"
            if kind == "order" and not retry:
                pending = None  # an answer: 201, or 409 sold out
            if retry:
                time.sleep(0.2 + rng.random() * 0.3)  # a client backs off a little before its retry

    threads = [threading.Thread(target=client, args=(i, t)) for i, t in enumerate(tokens)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.close()


def report(base, tokens, log_path, events_path):
    entries = [json.loads(line) for line in open(log_path)]
    events = []
    for line in open(events_path):
        t, label = line.split(" ", 1)
        events.append((float(t), label.strip()))
    start = min(e["t"] for e in entries)
    windows = {}
    for e in entries:
        w = int((e["t"] - start) // 5)
        slot = windows.setdefault(w, {"statuses": {}, "longest": 0.0})
        name = str(e["status"]) if e["status"] else "no answer"
        slot["statuses"][name] = slot["statuses"].get(name, 0) + 1
        slot["longest"] = max(slot["longest"], e["wait"])
    print("  | window | answers by status | longest wait | event |")
    print("  |---|---|---|---|")
    for w in sorted(windows):
        slot = windows[w]
        marks = [label for t, label in events if w * 5 <= t - start < (w + 1) * 5]
        statuses = ", ".join(f"{count} × {status}" for status, count in sorted(slot["statuses"].items()))
        print(f"  | {w * 5:3d}–{w * 5 + 5:3d} s | {statuses} | {slot['longest']:.2f} s | {'; '.join(marks)} |")
    problems = []
    slow = [e for e in entries if e["wait"] > MAX_WAIT]
    if slow:
        problems.append(f"{len(slow)} requests waited longer than {MAX_WAIT} s (longest {max(e['wait'] for e in slow):.2f} s)")
    errors = [e for e in entries if e["status"] >= 500 and e["status"] != 503]
    if errors:
        problems.append(f"{len(errors)} answers 5xx other than 503: {sorted({e['status'] for e in errors})}")
    unanswered = [e for e in entries if e["status"] == 0]
    if unanswered:
        problems.append(f"{len(unanswered)} requests got no answer at all")
    wrong = [e for e in entries if e["status"] == 503 and e["code"] != "database_unavailable"]
    if wrong:
        problems.append(f"{len(wrong)} 503 answers without code database_unavailable")
    placed = [e for e in entries if e["kind"] == "order" and e["status"] == 201]
    missing = 0
    for e in placed:
        status, _ = request(base, "GET", f"/api/orders/orders/{e['order']}/", tokens[e["customer"]])
        if status != 200:
            missing += 1
    if missing:
        problems.append(f"{missing} of {len(placed)} acknowledged orders are missing")
    total = len(entries)
    print(f"  {total} requests, {len(placed)} orders placed (all {len(placed) - missing} found afterwards), "
          f"{sum(1 for e in entries if e['status'] == 503)} × 503, longest wait {max(e['wait'] for e in entries):.2f} s")
    for problem in problems:
        print("  PROBLEM:", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    mode, base = sys.argv[1], sys.argv[2]
    tokens = open(sys.argv[3]).read().split()
    if mode == "load":
        load(base, tokens, open(sys.argv[4]).read().split(), float(sys.argv[5]), sys.argv[6])
    else:
        sys.exit(report(base, tokens, sys.argv[4], sys.argv[5]))
