"""Crash test: customers place and cancel orders while the server is killed with SIGKILL; after a restart,
every acknowledged order and cancellation must be there, and a retry of each request that was in flight
(same Idempotency-Key, same body) must end with exactly one order per key.

    crash.py load   BASE TOKENS PRODUCTS STATE   # runs until the server stops answering, then writes STATE
    crash.py verify BASE TOKENS STATE            # after the restart: checks STATE against the server

Standard library only; 127.0.0.1 only; bounded by the caller killing the server.
"""

import http.client
import json
import random
import sys
import threading
import time
import urllib.parse
import uuid


def request(base, method, path, token, body=None, key=None, timeout=10):
    url = urllib.parse.urlparse(base)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    return response.status, (json.loads(payload) if payload else {})


def load(base, tokens, products, state_path):
    before = [request(base, "GET", "/api/orders/orders/?limit=1", token)[1]["count"] for token in tokens]
    state = {"before": before, "orders": {}, "cancelled": [], "in_flight": {}, "server_errors": 0}
    lock = threading.Lock()

    def customer(index, token):
        rng = random.Random(time.time_ns() + index)
        failures = 0
        while failures < 20:  # the server is gone: stop after ~2 s of refused connections
            if failures == 0:
                key = str(uuid.uuid4())
                lines = [{"product": p, "quantity": rng.randint(1, 2)} for p in rng.sample(products, rng.randint(1, 3))]
                body = json.dumps({"order_items": lines})
            try:
                status, reply = request(base, "POST", "/api/orders/orders/", token, body, key)
            except OSError:
                # Unknown whether it was placed: a client retries the same key and body (after the restart).
                with lock:
                    state["in_flight"][key] = {"customer": index, "body": body}
                failures += 1
                time.sleep(0.1)
                continue
            failures = 0
            with lock:
                if status == 201:
                    state["orders"][key] = {"customer": index, "id": reply["id"]}
                elif status >= 500:
                    state["server_errors"] += 1
            if status == 201 and rng.random() < 0.2:
                try:
                    status, _ = request(base, "POST", f"/api/orders/orders/{reply['id']}/cancel/", token)
                except OSError:
                    continue  # unknown whether it took effect: not counted either way
                if status == 200:
                    with lock:
                        state["cancelled"].append(reply["id"])

    threads = [threading.Thread(target=customer, args=(i, t)) for i, t in enumerate(tokens)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with open(state_path, "w") as file:
        json.dump(state, file)
    print(f"  acknowledged: {len(state['orders'])} orders, {len(state['cancelled'])} cancellations; "
          f"in flight at the kill: {len(state['in_flight'])}; 5xx: {state['server_errors']}")


def verify(base, tokens, state_path):
    with open(state_path) as file:
        state = json.load(file)
    problems = []
    cancelled = set(state["cancelled"])
    for key, order in state["orders"].items():
        status, reply = request(base, "GET", f"/api/orders/orders/{order['id']}/", tokens[order["customer"]])
        if status != 200:
            problems.append(f"acknowledged order {order['id']} answers {status}")
        elif order["id"] in cancelled and reply.get("status") != "cancelled":
            problems.append(f"acknowledged cancellation of {order['id']} lost: {reply.get('status')}")
    expected = dict(enumerate(state["before"]))
    for order in state["orders"].values():
        expected[order["customer"]] += 1
    retried = {"201": 0, "409": 0}
    for key, attempt in state["in_flight"].items():
        for _ in range(80):  # a claim left running by the kill is taken over after 60 s: retry as a client would
            status, reply = request(base, "POST", "/api/orders/orders/", tokens[attempt["customer"]], attempt["body"], key)
            if reply.get("code") != "idempotency_key_in_use":
                break
            time.sleep(1)
        if status == 201:
            expected[attempt["customer"]] += 1
            retried["201"] += 1
        elif status == 409 and reply.get("code") == "insufficient_stock":
            retried["409"] += 1
        else:
            problems.append(f"retry of in-flight key {key} answers {status} {reply.get('code')}")
    for index, token in enumerate(tokens):
        _, page = request(base, "GET", "/api/orders/orders/?limit=1", token)
        if page.get("count") != expected[index]:
            problems.append(f"customer {index} has {page.get('count')} orders, expected {expected[index]} (one per key)")
    print(f"  verified {len(state['orders'])} orders, {len(cancelled)} cancellations; in-flight retries: "
          f"{retried['201']} x 201, {retried['409']} x 409")
    for problem in problems[:20]:
        print("  PROBLEM:", problem)
    return 1 if problems or state["server_errors"] else 0


if __name__ == "__main__":
    mode, base = sys.argv[1], sys.argv[2]
    tokens = open(sys.argv[3]).read().split()
    if mode == "load":
        load(base, tokens, open(sys.argv[4]).read().split(), sys.argv[5])
    else:
        sys.exit(verify(base, tokens, sys.argv[4]))
