#!/usr/bin/env python3
"""The back office (/admin/) in a real browser: headless Chromium driven by Selenium.

Signs in as staff, creates a product, adjusts its stock; a customer orders it through the JSON API and
the dashboard's 14-day chart counts the order; creates a webhook endpoint (subscribed to order.fulfilled,
pointing at a receiver this script runs on loopback), keeps its secret and checks it is never shown again;
fulfils the order, checks that the receiver got a Standard Webhooks-signed order.fulfilled and that the
endpoint's page lists the delivery as delivered; closes the customer's account and checks that they can no
longer log in through the API; checks that the audit trail names the staff member for each of those actions;
signs out, and checks that Back does not show a staff page again and that the sign-in form is reachable with
Tab. Saves a PNG of every screen visited into SCREENSHOT_DIR (NN-screen-name.png, and failure.png on a
failure) and fails on any SEVERE browser log entry: a JavaScript error, a Content-Security-Policy violation,
an asset (or /favicon.ico) answering 404.

    BASE_URL=http://127.0.0.1:8089 ADMIN_USERNAME=admin ADMIN_PASSWORD=... SCREENSHOT_DIR=/tmp/shots \\
        python3 Tests/browser/backoffice.py

scripts/browser-test.sh runs it against a server on a fresh database, one that may deliver webhooks to http
on loopback (WEBHOOK_ALLOW_HTTP, WEBHOOK_ALLOW_PRIVATE). Needs Debian's chromium and
chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver; CHROMIUM and CHROMEDRIVER override them)
and selenium 4.51.0; downloads nothing. BROWSER_WAIT_SECONDS (default 20) bounds every wait.
Exits 0 when every step passes, 1 on the first failure, 2 when an input is missing.
"""
import os

# Selenium Manager (which could download a driver or a browser) never runs: the driver's path is given
# below, and were it not, the manager would stay offline.
os.environ["SE_OFFLINE"] = "true"

import base64  # noqa: E402
import hashlib  # noqa: E402
import hmac  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import secrets  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import urllib.error  # noqa: E402
import urllib.parse  # noqa: E402
import urllib.request  # noqa: E402
import uuid  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import TimeoutException, WebDriverException  # noqa: E402
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402


def required(name):
    value = os.environ.get(name, "").strip()
    if not value:
        print(f"backoffice.py: {name} is required (see the docstring)", file=sys.stderr)
        sys.exit(2)
    return value


BASE = required("BASE_URL").rstrip("/")
ADMIN_USERNAME = os.environ.get("ADMIN_USERNAME", "").strip() or "admin"
ADMIN_PASSWORD = required("ADMIN_PASSWORD")
SCREENSHOTS = os.environ.get("SCREENSHOT_DIR", "").strip() or tempfile.mkdtemp(prefix="opply-screenshots-")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
WAIT = float(os.environ.get("BROWSER_WAIT_SECONDS", "20"))

# The customer API (Sources/OpplyServer/Resources/openapi.yaml).
REGISTER = "/api/identity/register/"
TOKEN = "/api/identity/token/"
ORDERS = "/api/orders/orders/"

UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
RUN = secrets.token_hex(4)  # unique names, so a rerun on the same database does not collide
PRODUCT_NAME = f"Browser Oat Milk {RUN}"
STOCK_REASON = "delivery from browser test"
FULFIL_NOTE = "packed by browser test"
CUSTOMER = f"browser-customer-{RUN}"
CUSTOMER_PASSWORD = "oat-latte-4242"

driver = None
screens = 0
state = {}  # what the steps learn and later steps use: the ids of the product, order, endpoint and customer, ...


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


# ---------------------------------------------------------------------------------------------- the browser


def start_browser():
    options = Options()
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(argument)
    options.binary_location = CHROMIUM
    # Without this chromedriver keeps no console messages, and get_log("browser") answers [].
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    for path in (CHROMIUM, CHROMEDRIVER):
        check(os.access(path, os.X_OK), f"{path} is missing: apt-get install chromium chromium-driver")
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    browser.set_page_load_timeout(max(WAIT, 30))
    return browser


def path_of(url=None):
    return urllib.parse.urlsplit(url or driver.current_url).path


def absolute(href):
    return urllib.parse.urljoin(driver.current_url, href or "")


def page_summary():
    """The heading and any alert on the page, for failure messages."""
    parts = [f"at {driver.current_url}"]
    for selector in ("h1", "[role=alert], .error, .errors, .flash"):
        texts = [e.text.strip() for e in driver.find_elements(By.CSS_SELECTOR, selector) if e.text.strip()]
        if texts:
            parts.append(f"{selector.split(',')[0]}: {' | '.join(texts)[:300]!r}")
    return "; ".join(parts)


def wait_until(condition, what):
    try:
        return WebDriverWait(driver, WAIT).until(lambda _: condition())
    except TimeoutException:
        raise Failure(f"waited {WAIT:g} s for {what}; {page_summary()}") from None


def wait_loaded():
    wait_until(lambda: driver.execute_script("return document.readyState") == "complete", "the page to finish loading")


def expect_path(pattern, after):
    """Waits until the URL's path matches `pattern` (a regex, whole path); returns the match."""
    return wait_until(lambda: re.fullmatch(pattern, path_of()), f"{pattern} after {after}")


def screen(name):
    """A screen has loaded: saves NN-name.png, then fails on any SEVERE entry in the browser log since the last."""
    global screens
    wait_loaded()
    screens += 1
    file = os.path.join(SCREENSHOTS, f"{screens:02d}-{name}.png")
    check(driver.save_screenshot(file), f"could not save {file}")
    entries = driver.get_log("browser")  # reading empties chromedriver's buffer
    for entry in entries:
        if entry["level"] == "WARNING":
            print(f"     browser warning on {name}: {entry['message']}", flush=True)
    severe = [entry for entry in entries if entry["level"] == "SEVERE"]
    if severe:
        lines = "\n".join(f"  [{e.get('source', '?')}] {e['message']}" for e in severe)
        hint = ""
        if any("/favicon.ico" in e["message"] for e in severe):
            hint = ("\n  (Chromium asks every site for /favicon.ico: serve one, or name an icon with"
                    " <link rel=\"icon\"> that the Content-Security-Policy allows)")
        raise Failure(f"the browser logged {len(severe)} error(s) on {name} ({driver.current_url}):\n{lines}{hint}")


def xpath_string(text):
    return f"'{text}'" if "'" not in text else f'"{text}"'


def button(text):
    """The visible button (or submit input) whose text is `text`."""
    quoted = xpath_string(text)
    found = driver.find_elements(
        By.XPATH, f"//button[normalize-space()={quoted}] | //input[(@type='submit' or @type='button') and @value={quoted}]")
    found = [b for b in found if b.is_displayed()]
    check(found, f"no button {text!r}; {page_summary()}")
    return found[0]


def form_of(element):
    owner = element.get_dom_attribute("form")
    if owner:
        return driver.find_element(By.ID, owner)
    forms = element.find_elements(By.XPATH, "./ancestor::form[1]")
    check(forms, f"the button {element.text or element.get_dom_attribute('value')!r} is in no form")
    return forms[0]


def fill(form, name, value):
    fields = form.find_elements(By.NAME, name)
    check(fields, f"no field named {name!r} in the form (action {form.get_dom_attribute('action')!r}); {page_summary()}")
    field = fields[0]
    if field.tag_name == "select":
        values = [o.get_dom_attribute("value") for o in Select(field).options]
        check(value in values, f"the select {name!r} has no option {value!r} (it has {values})")
        Select(field).select_by_value(value)
    else:
        field.clear()
        field.send_keys(value)


def click_and_load(element, what):
    """Clicks something that loads a new page (a link, a form's button) and waits until the old page is gone."""
    old = driver.find_element(By.TAG_NAME, "html")
    element.click()
    try:
        WebDriverWait(driver, WAIT).until(EC.staleness_of(old))
    except TimeoutException:
        invalid = driver.execute_script(
            "return Array.from(document.querySelectorAll('input:invalid, select:invalid, textarea:invalid'))"
            ".map(e => (e.name || e.id) + ': ' + e.validationMessage)")
        refused = f"; the browser refused the form: {'; '.join(invalid)}" if invalid else ""
        raise Failure(f"clicking {what!r} loaded no new page in {WAIT:g} s{refused}; {page_summary()}") from None
    wait_loaded()


def submit(button_text, fields):
    """Fills the form of the button `button_text` and clicks the button."""
    target = button(button_text)
    form = form_of(target)
    for name, value in fields.items():
        fill(form, name, value)
    click_and_load(target, button_text)


def body_text():
    return driver.find_element(By.TAG_NAME, "body").text


def is_sign_in_page():
    return (path_of() == "/admin/login/" or
            (driver.find_elements(By.NAME, "username") and driver.find_elements(By.NAME, "password")))


# ------------------------------------------------------------------------------------------------ the API

# No proxy: the server is on loopback, whatever http_proxy says.
http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def api(method, path, body=None, token=None, expect=200, headers=None):
    request = urllib.request.Request(BASE + path, method=method, headers={"Accept": "application/json", **(headers or {})})
    if body is not None:
        request.data = json.dumps(body).encode()
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with http.open(request, timeout=WAIT) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    check(status == expect, f"{method} {path}: expected {expect}, got {status}: {raw[:500].decode(errors='replace')}")
    try:
        return json.loads(raw)
    except ValueError:
        raise Failure(f"{method} {path}: the answer is not JSON: {raw[:200]!r}") from None


# ----------------------------------------------------------------------------------- the webhook receiver


class Receiver(ThreadingHTTPServer):
    """The endpoint the back office's webhook points at: on loopback, a free port, in a thread of its own; keeps
    every POST's headers (names in lower case) and body and answers 204."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), ReceiverHandler)
        self.deliveries = []
        self.arrived = threading.Condition()
        self.thread = threading.Thread(target=self.serve_forever, name="webhook-receiver", daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/hook"

    def delivery(self, matches, timeout):
        """The first delivery for which matches(headers, body) is true, waiting at most `timeout` s for it; else None."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while True:
                found = next((d for d in self.deliveries if matches(*d)), None)
                remaining = deadline - time.monotonic()
                if found or remaining <= 0:
                    return found
                self.arrived.wait(remaining)


class ReceiverHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {name.lower(): value for name, value in self.headers.items()}
        with self.server.arrived:
            self.server.deliveries.append((headers, body))
            self.server.arrived.notify_all()
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


receiver = None


def signature_ok(headers, body, secret):
    """Standard Webhooks: any `v1,<base64>` in webhook-signature is the HMAC-SHA256 of "{id}.{timestamp}.{body}"
    keyed with the base64 after whsec_ (as scripts/webhook-receiver.py checks it)."""
    key = base64.b64decode(secret[len("whsec_"):])
    signed = f"{headers.get('webhook-id', '')}.{headers.get('webhook-timestamp', '')}.".encode() + body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(part, expected) for part in headers.get("webhook-signature", "").split(" "))


# ---------------------------------------------------------------------------------------------- the steps


def landing():
    driver.get(BASE + "/")
    screen("landing")
    base = urllib.parse.urlsplit(BASE + "/")
    links = set()
    for a in driver.find_elements(By.CSS_SELECTOR, "a[href]"):
        url = urllib.parse.urlsplit(absolute(a.get_dom_attribute("href")))
        if url.netloc == base.netloc:
            links.add(url.path)
    missing = [p for p in ("/admin/", "/openapi.yaml", "/health/live") if p not in links]
    check(not missing, f"the landing page has no link to {', '.join(missing)} (it links to {sorted(links)})")
    return "the landing page links to /admin/, /openapi.yaml and /health/live"


def sign_in():
    driver.get(BASE + "/admin/")
    expect_path("/admin/login/", "GET /admin/ signed out")
    screen("sign-in")
    submit("Sign in", {"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD})
    expect_path("/admin/", f"signing in as {ADMIN_USERNAME}")
    screen("dashboard")
    headings = [h.text.strip() for h in driver.find_elements(By.TAG_NAME, "h1")]
    check(headings and headings[0], f"the dashboard has no <h1>; {page_summary()}")
    return f"GET /admin/ signed out went to /admin/login/; signed in as {ADMIN_USERNAME}: dashboard {headings[0]!r}"


def create_product():
    driver.get(BASE + "/admin/products/new/")
    screen("new-product")
    submit("Create product", {
        "name": PRODUCT_NAME,
        "description": "Oat milk that the browser test made.",
        "price": "2.49",
        "category": "plant-milks",
        "quantity": "5",
    })
    match = expect_path(f"/admin/products/({UUID})/", "creating a product")
    screen("product")
    state["product"] = match.group(1).lower()
    heading = driver.find_element(By.TAG_NAME, "h1").text
    check(PRODUCT_NAME in heading, f"the product page's <h1> is {heading!r}, not the name {PRODUCT_NAME!r}")
    return f"created {PRODUCT_NAME!r}: /admin/products/{state['product']}/"


def cells_of(row):
    return [c.text.strip() for c in row.find_elements(By.CSS_SELECTOR, "td, th")]


def number(pattern):
    """A regex for `pattern` standing alone as a number (not part of 112, 12.5, 19:12 or 2012-)."""
    return re.compile(rf"(?<![\d.:+\-]){pattern}(?![\d.:])")


def adjust_stock():
    product_path = f"/admin/products/{state['product']}/"
    submit("Adjust stock", {"adjustment": "7", "reason": STOCK_REASON})
    expect_path(re.escape(product_path), "adjusting the stock")
    screen("product-stock-adjusted")
    tables = driver.find_elements(By.ID, "stock-history")
    check(tables, f"no element with id stock-history; {page_summary()}")
    rows = [cells_of(r) for r in tables[0].find_elements(By.TAG_NAME, "tr")]
    plus_seven, twelve = re.compile(r"(?<![\d.])\+7(?![\d.])"), number("12")
    found = [
        cells for cells in rows
        if any(STOCK_REASON in c for c in cells)
        and any(plus_seven.search(c) for c in cells)
        and any(twelve.search(c) for c in cells if not plus_seven.search(c) and STOCK_REASON not in c)
    ]
    check(found, f"#stock-history has no row with {STOCK_REASON!r}, +7 and 12; its rows: {rows}")
    on_hand = driver.find_elements(By.ID, "stock-on-hand")
    check(on_hand, "no element with id stock-on-hand")
    numbers = re.findall(r"-?\d+", on_hand[0].text)
    check(numbers[:1] == ["12"], f"#stock-on-hand shows {on_hand[0].text!r}, not 12")
    return f"stock +7 ({STOCK_REASON!r}): #stock-history row {found[0]}, #stock-on-hand 12"


def place_order():
    api("POST", REGISTER, {
        "username": CUSTOMER, "email": f"{CUSTOMER}@example.com",
        "password": CUSTOMER_PASSWORD, "password2": CUSTOMER_PASSWORD,
    }, expect=201)
    tokens = api("POST", TOKEN, {"username": CUSTOMER, "password": CUSTOMER_PASSWORD})
    check(tokens.get("access"), f"POST {TOKEN}: no access token in {sorted(tokens)}")
    state["token"] = tokens["access"]
    order = api("POST", ORDERS, {"order_items": [{"product": state["product"], "quantity": 2}]},
                token=state["token"], expect=201, headers={"Idempotency-Key": str(uuid.uuid4())})
    check(order.get("id"), f"POST {ORDERS}: no id in {order}")
    state["order"] = str(order["id"]).lower()
    return f"API: registered {CUSTOMER}, signed in, placed order {state['order']} (status {order.get('status')!r})"


def dashboard():
    driver.get(BASE + "/admin/")
    expect_path("/admin/", "GET /admin/")
    screen("dashboard-with-order")
    charts = driver.find_elements(By.CSS_SELECTOR, "svg#orders-chart")
    check(charts, f"the dashboard has no svg#orders-chart; {page_summary()}")
    bars = charts[0].find_elements(By.CSS_SELECTOR, "rect.bar")
    check(len(bars) == 14, f"svg#orders-chart has {len(bars)} rect.bar, not 14 (one a day)")
    check(charts[0].is_displayed() and charts[0].size["width"] > 0, f"svg#orders-chart is not displayed ({charts[0].size})")
    # The last bar is today's (UTC), so it counts the order just placed.
    values = [t.get_attribute("textContent").strip() for t in charts[0].find_elements(By.CSS_SELECTOR, "text.value")]
    check(len(values) == 14 and values[-1].isdigit() and int(values[-1]) >= 1,
          f"today's bar (the last) should count at least the order just placed; the bars' values: {values}")
    height = float(bars[-1].get_dom_attribute("height") or 0)
    check(height > 0, f"today's rect.bar has height {height:g} although it counts {values[-1]} order(s)")
    return f"svg#orders-chart: 14 rect.bar, today's counts {values[-1]} order(s) (height {height:g}); no console errors"


def create_webhook():
    driver.get(BASE + "/admin/webhooks/")
    expect_path("/admin/webhooks/", "GET /admin/webhooks/")
    screen("webhooks")
    create = button("Create endpoint")
    form = form_of(create)
    fill(form, "url", receiver.url)
    boxes = {b.get_dom_attribute("value"): b for b in form.find_elements(By.CSS_SELECTOR, "input[type=checkbox][name=events]")}
    for value in ("*", "order.fulfilled"):
        check(value in boxes, f"the New endpoint form has no checkbox events={value!r} (it has {sorted(boxes)})")
    for value, box in boxes.items():
        if box.is_selected() != (value == "order.fulfilled"):
            box.click()
    fill(form, "description", f"browser test {RUN}")
    click_and_load(create, "Create endpoint")
    expect_path("/admin/webhooks/", "creating an endpoint")
    screen("webhook-created")
    shown = driver.find_elements(By.ID, "webhook-secret")
    check(shown, f"the page answering Create endpoint has no #webhook-secret; {page_summary()}")
    secret = shown[0].text.strip()
    check(re.fullmatch(r"whsec_[A-Za-z0-9+/]{20,}={0,2}", secret), f"#webhook-secret is {secret!r}, not whsec_ and base64")
    actions = [path_of(absolute(f.get_dom_attribute("action"))) for f in driver.find_elements(By.TAG_NAME, "form")]
    ids = [m.group(1).lower() for m in (re.fullmatch(f"/admin/webhooks/({UUID})/", a) for a in actions) if m]
    check(ids, f"no edit form with the action /admin/webhooks/<id>/ on the page answering Create endpoint (actions: {actions})")
    state["webhook"], state["secret"] = ids[0], secret
    endpoint_path = f"/admin/webhooks/{state['webhook']}/"
    driver.get(BASE + endpoint_path)
    expect_path(re.escape(endpoint_path), f"GET {endpoint_path}")
    screen("webhook")
    check(not driver.find_elements(By.ID, "webhook-secret") and secret not in driver.page_source,
          f"{endpoint_path} shows the secret again: it must be shown only on the page answering the creation")
    check(receiver.url in body_text(), f"{endpoint_path} does not show the URL {receiver.url}; {page_summary()}")
    ticked = [b.get_dom_attribute("value") for b in driver.find_elements(By.CSS_SELECTOR, "input[type=checkbox][name=events]")
              if b.is_selected()]
    check(ticked == ["order.fulfilled"], f"{endpoint_path}: the endpoint's events are {ticked}, not ['order.fulfilled']")
    return f"created {endpoint_path} for {receiver.url} (order.fulfilled only); the secret was shown once, not on reload"


def order_status():
    found = driver.find_elements(By.ID, "order-status")
    check(found, f"no element with id order-status; {page_summary()}")
    return found[0].text.strip()


def open_order():
    driver.get(BASE + "/admin/orders/")
    expect_path("/admin/orders/", "GET /admin/orders/")
    screen("orders")
    order_path = f"/admin/orders/{state['order']}/"
    links = [a for a in driver.find_elements(By.CSS_SELECTOR, "table a[href]")
             if path_of(absolute(a.get_dom_attribute("href"))).lower() == order_path]
    check(links, f"no link to {order_path} in a table on /admin/orders/")
    table = links[0].find_element(By.XPATH, "./ancestor::table[1]")
    check(CUSTOMER in table.text, f"the orders table does not show the customer {CUSTOMER!r}")
    click_and_load(links[0], f"the link to {order_path}")
    expect_path(f"(?i){re.escape(order_path)}", "clicking the order's link")
    screen("order")
    status = order_status()
    check(status.lower() == "confirmed", f"#order-status is {status!r}, not 'confirmed'")
    return f"/admin/orders/ lists {order_path} for {CUSTOMER}; the order page shows status {status!r}"


def fulfil_order():
    order_path = f"/admin/orders/{state['order']}/"
    submit("Fulfil", {"note": FULFIL_NOTE})
    expect_path(f"(?i){re.escape(order_path)}", "fulfilling the order")
    screen("order-fulfilled")
    status = order_status()
    check(status.lower() == "fulfilled", f"#order-status is {status!r} after Fulfil, not 'fulfilled'")
    check(FULFIL_NOTE in body_text(), f"the order page does not show the note {FULFIL_NOTE!r}")
    return f"fulfilled with the note {FULFIL_NOTE!r}: #order-status {status!r}"


def order_fulfilled_in_api():
    order = api("GET", f"{ORDERS}{state['order']}/", token=state["token"])
    check(order.get("status") == "fulfilled", f"GET {ORDERS}{state['order']}/: status {order.get('status')!r}, not 'fulfilled'")
    return f"API: GET {ORDERS}{state['order']}/ as {CUSTOMER}: status 'fulfilled'"


def webhook_received():
    def fulfilled(headers, body):
        try:
            event = json.loads(body)
        except ValueError:
            return False
        return (isinstance(event, dict) and event.get("type") == "order.fulfilled"
                and str((event.get("data") or {}).get("id", "")).lower() == state["order"])

    found = receiver.delivery(fulfilled, WAIT)
    if not found:
        got = [(h.get("webhook-id"), b[:120].decode(errors="replace")) for h, b in receiver.deliveries]
        raise Failure(f"in {WAIT:g} s {receiver.url} got no order.fulfilled for order {state['order']}"
                      f" (it got {len(got)} POST(s): {got}); see the endpoint's deliveries at"
                      f" {BASE}/admin/webhooks/{state['webhook']}/")
    headers, body = found
    missing = [h for h in ("webhook-id", "webhook-timestamp", "webhook-signature") if not headers.get(h)]
    check(not missing, f"the order.fulfilled delivery lacks the header(s) {missing} (it has {sorted(headers)})")
    check(signature_ok(headers, body, state["secret"]),
          f"webhook-signature {headers['webhook-signature']!r} is not the HMAC-SHA256 of"
          f" \"{headers['webhook-id']}.{headers['webhook-timestamp']}.<body>\" keyed with the secret shown at creation")
    age = time.time() - int(headers["webhook-timestamp"])
    check(abs(age) < 300, f"webhook-timestamp {headers['webhook-timestamp']} is {age:.0f} s from now")
    return (f"{receiver.url} got order.fulfilled for {state['order']} (webhook-id {headers['webhook-id']}):"
            " v1 signature valid with the secret shown at creation")


def webhook_delivered():
    endpoint_path = f"/admin/webhooks/{state['webhook']}/"
    driver.get(BASE + endpoint_path)
    expect_path(re.escape(endpoint_path), f"GET {endpoint_path}")

    def delivered():
        wait_loaded()
        for row in driver.find_elements(By.CSS_SELECTOR, "table#deliveries tbody tr"):
            if (row.find_element(By.TAG_NAME, "th").text.strip() == "order.fulfilled"
                    and row.find_elements(By.CSS_SELECTOR, "span.badge.delivered")):
                return row
        driver.refresh()  # the worker may not have recorded the answer yet
        return None

    try:
        row = WebDriverWait(driver, WAIT).until(lambda _: delivered())
    except TimeoutException:
        rows = [cells_of(r) for r in driver.find_elements(By.CSS_SELECTOR, "table#deliveries tbody tr")]
        raise Failure(f"waited {WAIT:g} s for an order.fulfilled row with span.badge.delivered in table#deliveries"
                      f" (its rows: {rows}); {page_summary()}") from None
    cells = cells_of(row)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", row)  # the table is below the forms
    screen("webhook-delivered")
    return f"{endpoint_path}: table#deliveries row {cells}"


def click_confirm_and_load(element, what):
    """Clicks the button of a data-confirm form: accepts the window.confirm that app.js shows, waits for the next page."""
    old = driver.find_element(By.TAG_NAME, "html")
    element.click()
    try:
        alert = WebDriverWait(driver, WAIT).until(EC.alert_is_present())
    except TimeoutException:
        raise Failure(f"clicking {what!r} asked nothing in {WAIT:g} s: its form has data-confirm, and app.js should"
                      f" call window.confirm; {page_summary()}") from None
    question = alert.text
    alert.accept()
    try:
        WebDriverWait(driver, WAIT).until(EC.staleness_of(old))
    except TimeoutException:
        raise Failure(f"accepting {question!r} after {what!r} loaded no new page in {WAIT:g} s; {page_summary()}") from None
    wait_loaded()
    return question


def close_customer():
    driver.get(BASE + "/admin/customers/")
    expect_path("/admin/customers/", "GET /admin/customers/")
    screen("customers")
    submit("Search", {"search": CUSTOMER})
    expect_path("/admin/customers/", "searching the customers")
    searched = urllib.parse.parse_qs(urllib.parse.urlsplit(driver.current_url).query).get("search")
    check(searched == [CUSTOMER], f"Search went to {driver.current_url}, not ?search={CUSTOMER}")
    screen("customers-search")
    links = [a for a in driver.find_elements(By.CSS_SELECTOR, "table a[href]") if a.text.strip() == CUSTOMER]
    check(links, f"searching {CUSTOMER!r} lists no link named {CUSTOMER!r} in a table; {page_summary()}")
    customer_path = path_of(absolute(links[0].get_dom_attribute("href")))
    match = re.fullmatch(f"/admin/customers/({UUID})/", customer_path)
    check(match, f"the customer's link goes to {customer_path}, not /admin/customers/<id>/")
    state["customer"] = match.group(1).lower()
    click_and_load(links[0], f"the link to {customer_path}")
    expect_path(re.escape(customer_path), "clicking the customer's link")
    screen("customer")
    heading = driver.find_element(By.TAG_NAME, "h1").text
    check(CUSTOMER in heading, f"the customer page's <h1> is {heading!r}, not {CUSTOMER!r}")
    question = click_confirm_and_load(button("Close account"), "Close account")
    expect_path("/admin/customers/", "closing the account")
    screen("customer-closed")
    return f"searched {CUSTOMER!r}, opened {customer_path}, Close account, accepted {question!r}: back on /admin/customers/"


def closed_customer_cannot_log_in():
    api("POST", TOKEN, {"username": CUSTOMER, "password": CUSTOMER_PASSWORD}, expect=401)
    return f"API: POST {TOKEN} as the closed {CUSTOMER}: 401"


def audit_trail():
    driver.get(BASE + "/admin/audit/")
    expect_path("/admin/audit/", "GET /admin/audit/")
    screen("audit")
    tables = driver.find_elements(By.CSS_SELECTOR, "table#audit")
    check(tables, f"no table#audit on /admin/audit/; {page_summary()}")
    # textContent, not .text: the headings are upper-cased by the stylesheet.
    columns = [th.get_attribute("textContent").strip() for th in tables[0].find_elements(By.CSS_SELECTOR, "thead th")]
    check(columns == ["When", "Staff", "What", "Record", "Summary"],
          f"table#audit's columns are {columns}, not When, Staff, What, Record, Summary")
    rows = [dict(zip(columns, cells_of(r))) for r in tables[0].find_elements(By.CSS_SELECTOR, "tbody tr")]
    expected = [  # what, and the record when the test knows its id
        ("staff signed in", None),
        ("product created", state["product"]),
        ("product stock adjusted", state["product"]),
        ("webhook created", state["webhook"]),
        ("order fulfilled", state["order"]),
        ("customer closed", state["customer"]),
    ]
    for what, record in expected:
        found = [r for r in rows if r.get("What") == what and (record is None or r.get("Record", "").lower() == record)]
        check(found, f"table#audit has no {what!r} row{f' for {record}' if record else ''}; its rows (What, Staff,"
                     f" Record): {[(r.get('What'), r.get('Staff'), r.get('Record')) for r in rows]}")
        check(any(r.get("Staff") == ADMIN_USERNAME for r in found),
              f"table#audit's {what!r} row names {[r.get('Staff') for r in found]} as staff, not {ADMIN_USERNAME!r}")
    return f"table#audit shows {', '.join(w for w, _ in expected)}, each by {ADMIN_USERNAME}"


def sign_out():
    click_and_load(button("Sign out"), "Sign out")
    expect_path("/admin/login/", "signing out")
    screen("signed-out")
    driver.back()
    wait_loaded()
    screen("back-after-sign-out")
    check(FULFIL_NOTE not in body_text(),
          f"Back after signing out shows the order page again ({driver.current_url}): staff pages need"
          " Cache-Control: no-store, and the browser must ask the server again")
    check(is_sign_in_page(), f"Back after signing out shows something other than the sign-in page; {page_summary()}")
    back_at = path_of()
    driver.get(BASE + "/admin/orders/")
    expect_path("/admin/login/", "GET /admin/orders/ signed out")
    screen("orders-signed-out")
    return f"signed out to /admin/login/; Back showed the sign-in page ({back_at}); /admin/orders/ goes to /admin/login/"


def keyboard():
    driver.get(BASE + "/admin/login/")
    expect_path("/admin/login/", "GET /admin/login/")
    wait_loaded()
    fields = driver.find_elements(By.CSS_SELECTOR, "input[name=username]")
    check(fields, f"no input named username; {page_summary()}")
    username = fields[0]
    autofocused = driver.switch_to.active_element == username
    # Back to the page start: focusing <body> moves the sequential focus navigation starting point there, so the
    # next Tab goes to the first focusable element (blur() alone would leave it at an autofocused field).
    driver.execute_script("const b = document.body; b.tabIndex = -1; b.focus(); b.removeAttribute('tabindex')")
    check(driver.switch_to.active_element != username, "could not move the focus to the page start")
    tabs = 0
    while driver.switch_to.active_element != username and tabs < 10:
        ActionChains(driver).send_keys(Keys.TAB).perform()
        tabs += 1
    screen("sign-in-keyboard")
    active = driver.switch_to.active_element
    check(active == username,
          f"10 Tabs from the page start never reached the username field (focus is on <{active.tag_name}"
          f" name={active.get_dom_attribute('name')!r}>: {active.text.strip()[:60]!r})")
    return (f"the username field is reached with {tabs} Tab(s) from the page start"
            f"{' (and is autofocused)' if autofocused else ''}")


# Lettered in the order they run. No step tries a wrong password: it would count against the sign-in throttle.
STEPS = [
    ("a", landing),
    ("b", sign_in),
    ("c", create_product),
    ("d", adjust_stock),
    ("e", place_order),
    ("f", dashboard),
    ("g", create_webhook),
    ("h", open_order),
    ("i", fulfil_order),
    ("j", order_fulfilled_in_api),
    ("k", webhook_received),
    ("l", webhook_delivered),
    ("m", close_customer),
    ("n", closed_customer_cannot_log_in),
    ("o", audit_trail),
    ("p", sign_out),
    ("q", keyboard),
]


def main():
    global driver, receiver
    os.makedirs(SCREENSHOTS, exist_ok=True)
    print(f"==> Back office in Chromium: {BASE} as {ADMIN_USERNAME}; screenshots in {SCREENSHOTS}", flush=True)
    label = "start"
    try:
        receiver = Receiver()
        receiver.thread.start()
        driver = start_browser()
        for label, run in STEPS:
            print(f"ok   {label}. {run()}", flush=True)
    except Exception as error:  # noqa: BLE001 - any failure ends the run with a message and a screenshot
        if not isinstance(error, (Failure, WebDriverException, OSError)):
            traceback.print_exc()
        message = str(error) if isinstance(error, Failure) else f"{type(error).__name__}: {error}"
        print(f"FAIL {label}. {message.strip()}", file=sys.stderr, flush=True)
        if driver is not None:
            try:
                driver.save_screenshot(os.path.join(SCREENSHOTS, "failure.png"))
                print(f"     screenshot: {os.path.join(SCREENSHOTS, 'failure.png')} ({driver.current_url})", file=sys.stderr)
            except WebDriverException:
                pass
        return 1
    finally:
        if driver is not None:
            driver.quit()
        if receiver is not None and receiver.thread.is_alive():
            receiver.shutdown()
            receiver.server_close()
    print(f"==> All {len(STEPS)} steps passed; {screens} screenshots in {SCREENSHOTS}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
