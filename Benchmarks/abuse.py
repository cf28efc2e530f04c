"""Abuse test: two attacks on the server's defences, replayed on 127.0.0.1 and bounded in time; the figures go to
JSON files that `report` prints (side by side with a BASELINE build's when there is one).

    abuse.py real  BASE USERNAME PASSWORD COUNT OUT  # COUNT sequential sign-ins from 127.0.0.2 (curl --interface), each
                                                     # retried after Retry-After on a 429 or 503 for up to 30 s
    abuse.py flood BASE SECONDS CLIENTS HOLD OUT     # CLIENTS threads from 127.0.0.1 signing in as random usernames with
                                                     # a wrong password, for SECONDS and on while the file HOLD exists;
                                                     # the answers by status
    abuse.py stall BASE CONNECTIONS SECONDS PID OUT  # CONNECTIONS uploads of a ~1 MiB body to /api/identity/register/
                                                     # sent as far as the server takes them (never the last 16 KiB),
                                                     # then stalled for SECONDS; a fresh GET /health/live every
                                                     # second; the server's (PID) memory
    abuse.py report OURS [BASELINE]                  # each a prefix: PREFIX-idle.json, -flood.json, -busy.json, -stall.json

The real user signs in from 127.0.0.2 and the flood comes from 127.0.0.1: on Linux all of 127/8 is loopback, so the
server sees two client addresses, as it would see an attacker and a customer.
Standard library only (and curl); 127.0.0.1 only.
"""

import collections
import http.client
import json
import os
import secrets
import select
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

REAL_ADDRESS = "127.0.0.2"
FLOOD_ADDRESS = "127.0.0.1"
RETRY_CAP = 30.0  # seconds a real user's sign-in may take, retries included
CHUNK = 16 * 1024
BODY_LENGTH = 1_048_000  # declared; the last chunk is never sent, so every upload stays unfinished
SENDABLE = BODY_LENGTH - CHUNK
SEND_BUFFER = 16 * 1024  # a small kernel send buffer (Linux doubles it): what is sent is what the server read, near enough
FILL_SECONDS = 5.0  # at most this long to send the bodies before the stall begins


def address(base):
    url = urllib.parse.urlparse(base)
    return url.hostname, url.port


def write(path, data):
    with open(path, "w") as file:
        json.dump(data, file)


# MARK: the real user


def sign_in(base, username, password):
    """One sign-in as a customer would make it: retried after Retry-After on a 429 or 503 (and after 1 s on a lost
    connection) until a 200 or RETRY_CAP. Returns the seconds it took, every attempt's status, and whether it got in."""
    body = json.dumps({"username": username, "password": password})
    statuses = []
    start = time.monotonic()
    while True:
        left = RETRY_CAP - (time.monotonic() - start)
        if left <= 0.05:
            return {"seconds": time.monotonic() - start, "statuses": statuses, "ok": False}
        result = subprocess.run(
            ["curl", "-sS", "--interface", REAL_ADDRESS, "--max-time", f"{left:.3f}", "-o", "/dev/null", "-D", "-",
             "-w", "\n%{http_code}", "-H", "Content-Type: application/json", "--data-binary", body,
             f"{base}/api/identity/token/"],
            capture_output=True, text=True)
        lines = result.stdout.replace("\r", "").split("\n")
        status = lines[-1].strip() or "000"
        statuses.append(int(status) if status.isdigit() else 0)
        if status == "200":
            return {"seconds": time.monotonic() - start, "statuses": statuses, "ok": True}
        if result.returncode == 45:  # curl: could not bind the local end
            sys.exit(f"curl --interface {REAL_ADDRESS} failed: {result.stderr.strip()}")
        if status in ("429", "503"):
            retry = next((line.split(":", 1)[1].strip() for line in lines if line.lower().startswith("retry-after:")), "1")
            wait = float(retry) if retry.replace(".", "", 1).isdigit() else 1.0
        elif status == "000":  # cut off or timed out: try again shortly, within the cap
            wait = 1.0
        else:  # a 401 or a 500: no retry makes it right
            return {"seconds": time.monotonic() - start, "statuses": statuses, "ok": False}
        time.sleep(max(0.0, min(wait, RETRY_CAP - (time.monotonic() - start))))


def real(base, username, password, count, out):
    logins = []
    for _ in range(count):
        login = sign_in(base, username, password)
        logins.append(login)
        answers = ", ".join(f"{status or 'none'} x{n}" for status, n in sorted(collections.Counter(login["statuses"]).items()))
        tries = "" if len(login["statuses"]) == 1 else f" ({len(login['statuses'])} attempts: {answers})"
        print(f"   {'signed in' if login['ok'] else 'NOT signed in'} in {login['seconds']:.3f} s{tries}", flush=True)
    write(out, logins)


# MARK: the flood


def flood(base, seconds, clients, hold, out):
    host, port = address(base)
    start = time.monotonic()
    deadline = start + seconds
    running = lambda: time.monotonic() < deadline or os.path.exists(hold)
    counts = [collections.Counter() for _ in range(clients)]

    def client(counter):
        connection = None
        while running():
            if connection is None:
                connection = http.client.HTTPConnection(host, port, timeout=60, source_address=(FLOOD_ADDRESS, 0))
            body = json.dumps({"username": "flood-" + secrets.token_hex(6), "password": "wrong-password-42"})
            try:
                connection.request("POST", "/api/identity/token/", body=body, headers={"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
                counter[str(response.status)] += 1
                if response.will_close:
                    connection.close()
                    connection = None
            except (OSError, http.client.HTTPException) as error:
                counter["timeout" if isinstance(error, TimeoutError) else "error"] += 1
                connection.close()
                connection = None
                time.sleep(0.01)

    threads = [threading.Thread(target=client, args=(counts[n],), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    while running():
        time.sleep(0.1)
    elapsed = time.monotonic() - start
    for thread in threads:  # answers still on their way after a few seconds are not counted
        thread.join(max(0.0, elapsed + 5 - (time.monotonic() - start)))
    total = sum(counts, collections.Counter())
    total["unfinished"] = sum(thread.is_alive() for thread in threads)
    write(out, {"seconds": elapsed, "clients": clients, "counts": dict(total)})


# MARK: stalled bodies


def memory(pid, field):
    """A /proc/PID/status field in kB (VmRSS, VmHWM)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def stall(base, count, seconds, pid, out):
    host, port = address(base)
    rss_idle = memory(pid, "VmRSS")
    stop = threading.Event()
    probes = []
    rss_samples = []

    def probe():  # a fresh connection every second: does the server still answer?
        while not stop.is_set():
            tick = time.monotonic()
            rss_samples.append(memory(pid, "VmRSS"))
            try:
                connection = http.client.HTTPConnection(host, port, timeout=10)
                connection.request("GET", "/health/live")
                status = connection.getresponse().status
                connection.close()
            except (OSError, http.client.HTTPException):
                status = 0
            probes.append({"status": status, "seconds": time.monotonic() - tick})
            stop.wait(max(0.0, 1.0 - (time.monotonic() - tick)))

    prober = threading.Thread(target=probe, daemon=True)
    prober.start()

    head = (f"POST /api/identity/register/ HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {BODY_LENGTH}\r\n\r\n").encode()
    body = (b'{"username":"' + b"x" * BODY_LENGTH)[:BODY_LENGTH]
    connections = []  # dicts: socket, sent, opened, closed (seconds after opening), answer (bytes read)
    unopened = 0
    for _ in range(count):
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
            sock.settimeout(5)
            sock.connect((host, port))
            sock.sendall(head)
            sock.setblocking(False)
            connections.append({"socket": sock, "sent": 0, "opened": time.monotonic(), "closed": None, "answer": b""})
        except OSError:
            unopened += 1
    by_fd = {c["socket"].fileno(): c for c in connections}

    def close(c):
        if c["closed"] is None:
            c["closed"] = time.monotonic() - c["opened"]

    def read(ready):
        for fd in ready:
            c = by_fd[fd]
            try:
                data = c["socket"].recv(65536)
            except BlockingIOError:
                continue
            except OSError:  # reset
                close(c)
                continue
            if data:
                c["answer"] += data[:4096]
            else:
                close(c)

    # Send each body while the server takes it: in 16 KiB chunks, on sockets that can take more without blocking,
    # until every socket blocks for half a second (the server reads no more), is closed, or has sent all but the last
    # chunk (the server read it all: the upload stalls before its end all the same).
    fill_start = time.monotonic()
    while time.monotonic() - fill_start < FILL_SECONDS:
        sending = [c["socket"] for c in connections if c["closed"] is None and c["sent"] < SENDABLE]
        listening = [c["socket"] for c in connections if c["closed"] is None]
        if not sending:
            break
        readable, writable, _ = select.select(listening, sending, [], 0.5)
        read([s.fileno() for s in readable])
        if not writable and not readable:
            break
        for sock in writable:
            c = by_fd[sock.fileno()]
            if c["closed"] is not None:
                continue
            try:
                c["sent"] += sock.send(body[c["sent"]:min(c["sent"] + CHUNK, SENDABLE)])
            except BlockingIOError:
                pass
            except OSError:  # the server closed it
                close(c)
    fill_seconds = time.monotonic() - fill_start

    # Stall: send nothing more; note what the server answers and when it closes a connection.
    stall_end = time.monotonic() + seconds
    while time.monotonic() < stall_end:
        listening = [c["socket"] for c in connections if c["closed"] is None]
        if not listening:
            time.sleep(min(0.5, max(0.0, stall_end - time.monotonic())))
            continue
        readable, _, _ = select.select(listening, [], [], min(0.5, max(0.0, stall_end - time.monotonic())))
        read([s.fileno() for s in readable])
    peak = memory(pid, "VmHWM")
    stop.set()
    prober.join(12)
    for c in connections:
        c["socket"].close()

    def status(c):
        answer = c["answer"]
        return answer.split(b" ", 2)[1].decode() if answer.startswith(b"HTTP/") and answer.count(b" ") >= 2 else None

    statuses = collections.Counter(status(c) or "none" for c in connections)
    closed = [c["closed"] for c in connections if c["closed"] is not None]
    write(out, {
        "connections": count, "opened": len(connections), "unopened": unopened, "stall_seconds": seconds,
        "fill_seconds": fill_seconds, "sent_bytes": sum(c["sent"] for c in connections),
        "fully_sent": sum(c["sent"] >= SENDABLE for c in connections),
        "closed": len(closed), "closed_after": [min(closed), statistics.median(closed), max(closed)] if closed else None,
        "closed_without_answer": sum(c["closed"] is not None and status(c) is None for c in connections),
        "answers": dict(statuses), "rss_idle_kb": rss_idle, "rss_max_kb": max(rss_samples, default=0), "peak_kb": peak,
        "probes": probes,
    })


# MARK: report


def load(prefix):
    read = lambda name: json.load(open(f"{prefix}-{name}.json"))
    return {"idle": read("idle"), "busy": read("busy"), "flood": read("flood"), "stall": read("stall")}


def rows(run):
    idle = [login["seconds"] for login in run["idle"] if login["ok"]]
    busy = run["busy"]
    refused = sum(status in (429, 503, 0) for login in busy for status in login["statuses"])
    idle_median = statistics.median(idle) if idle else float("nan")
    # A sign-in that never got in counts at the cap: the median and max then say how bad it was.
    busy_seconds = [login["seconds"] if login["ok"] else RETRY_CAP for login in busy]
    busy_median, busy_max = statistics.median(busy_seconds), max(busy_seconds)
    ratio = busy_median / idle_median
    flood = run["flood"]
    counts = collections.Counter(flood["counts"])
    answered = sum(n for key, n in counts.items() if key.isdigit())
    others = {key: n for key, n in counts.items() if key not in ("401", "429", "503") and n}
    stall = run["stall"]
    probes = stall["probes"]
    mb = lambda kb: f"{kb / 1024:.1f} MB"
    closed_after = stall["closed_after"]
    return [
        ("Real user from 127.0.0.2, bcrypt cost 12", None),
        ("  sign-in idle: median", f"{idle_median:.3f} s" + ("" if len(idle) == len(run["idle"]) else f" ({len(run['idle']) - len(idle)} failed)")),
        ("  under the flood: median / max", f"{busy_median:.3f} / {busy_max:.3f} s"),
        ("  ratio under the flood / idle (target <= 3x)", f"{ratio:.2f}x {'yes' if ratio <= 3 else 'NO'}"),
        ("  under the flood: signed in (else counted as 30 s)", f"{sum(login['ok'] for login in busy)} of {len(busy)}"),
        ("  under the flood: attempts refused (429, 503, cut off)", f"{refused}"),
        (f"Flood from 127.0.0.1: {flood['clients']} clients, {flood['seconds']:.0f} s", None),
        ("  answers/s", f"{answered / flood['seconds']:.0f}"),
        ("  401 / 429 / 503", f"{counts['401']} / {counts['429']} / {counts['503']}"),
        ("  other answers, errors", ", ".join(f"{key} {n}" for key, n in sorted(others.items())) or "none"),
        (f"Stalled bodies: {stall['opened']} of {stall['connections']} uploads opened, stalled {stall['stall_seconds']:.0f} s", None),
        ("  RSS idle", mb(stall["rss_idle_kb"])),
        ("  peak RSS, VmHWM (target < 150 MB)", f"{mb(stall['peak_kb'])} {'yes' if stall['peak_kb'] < 150 * 1024 else 'NO'}"),
        ("  body bytes sent / uploads sent all but the tail", f"{stall['sent_bytes'] / 1048576:.1f} MiB / {stall['fully_sent']}"),
        ("  closed by the server before the end", f"{stall['closed']}"),
        ("    after (seconds, min / median / max)", "/".join(f"{t:.1f}" for t in closed_after) if closed_after else "-"),
        ("    without an answer", f"{stall['closed_without_answer']}"),
        ("  answered 413 / other answers", f"{stall['answers'].get('413', 0)} / "
         + (", ".join(f"{k} {n}" for k, n in sorted(stall["answers"].items()) if k not in ("413", "none")) or "none")),
        ("  /health/live: answered 200 / max latency", f"{sum(p['status'] == 200 for p in probes)} of {len(probes)} / "
         + f"{max((p['seconds'] for p in probes), default=0) * 1000:.0f} ms"),
    ]


def report(ours, baseline=None):
    columns = [rows(load(ours))] + ([rows(load(baseline))] if baseline else [])
    print(f"{'':<56} {'ours':<24} {'BASELINE' if baseline else ''}".rstrip())
    for n, (label, value) in enumerate(columns[0]):
        if value is None:  # a heading; the baseline's may differ (a flood held on longer)
            other = columns[1][n][0] if baseline else label
            print(f"== {label}" + ("" if other == label else f"   (BASELINE: {other})"))
            continue
        print(f"{label:<56} {value:<24} {columns[1][n][1] if baseline else ''}".rstrip())


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "real":
        real(args[0], args[1], args[2], int(args[3]), args[4])
    elif command == "flood":
        flood(args[0], float(args[1]), int(args[2]), args[3], args[4])
    elif command == "stall":
        stall(args[0], int(args[1]), float(args[2]), int(args[3]), args[4])
    elif command == "report":
        report(*args)
    else:
        sys.exit(__doc__)
