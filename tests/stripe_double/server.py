"""A small in-memory HTTP server that answers the Stripe API calls kitaportal makes.

The real `stripe` SDK is pointed at it (`STRIPE_API_BASE`). Objects follow the shapes in
Stripe's API reference (API version 2026-10-28): customers, products, prices, Checkout
Sessions (card + SEPA), subscriptions, billing portal sessions, invoices and webhook
endpoints, each with `object`, `livemode: false`, `created` and `metadata`. Lists are
`{"object": "list", …}`, errors `{"error": {"type": "invalid_request_error", …}}` with
status 400/404.

It also serves a hosted Checkout page (`/c/pay/<session>`), whose "Pay" button completes the
session the way Stripe does: the subscription starts, the first invoice is paid, the browser is
redirected to `success_url` and `checkout.session.completed` is delivered as a webhook signed
with the SDK's own helper (`stripe.WebhookSignature.generate_signature_header`).

Test helpers (`set_subscription_status`, `finalize_invoice`, `complete_checkout`) change state
as Stripe would and return the event they produce; events go to `webhook_url` (a Host header may
be given for `*.localhost` names) or wait in `.events` for the test to post.
"""

from __future__ import annotations

import html
import json
import re
import secrets
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import stripe

API_VERSION = "2026-10-28.endive"


def _id(prefix: str) -> str:
    return f"{prefix}_test_{secrets.token_hex(8)}"


def parse_form(body: str) -> dict:
    """Stripe's form encoding: `a[b][0][c]=x` → {"a": {"b": [{"c": "x"}]}}."""
    root: dict = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _lists(root)


def _lists(node):
    if isinstance(node, dict):
        node = {k: _lists(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node):
            return [node[k] for k in sorted(node, key=int)]
    return node


class StripeError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None):
        self.status, self.message, self.param = status, message, param


class StripeDouble:
    def __init__(self, webhook_secret: str = "whsec_test_double"):
        self.webhook_secret = webhook_secret
        self.webhook_url: str | None = None
        self.webhook_host: str | None = None
        self.objects: dict[str, dict] = {}
        self.events: list[dict] = []
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._invoice_count = 0

    # --- server lifecycle -------------------------------------------------------------------

    def start(self) -> StripeDouble:
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _reply(self, status: int, body, content_type="application/json", headers=None):
                data = body if isinstance(body, bytes) else body.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", "req_" + secrets.token_hex(6))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str):
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                params = parse_form(raw if method == "POST" else parts.query)
                try:
                    if parts.path.startswith("/v1/"):
                        if not (self.headers.get("Authorization") or "").startswith("Bearer sk_"):
                            raise StripeError(401, "Invalid API Key provided")
                        if self.headers.get("Stripe-Version") != API_VERSION:
                            raise StripeError(400, "Unexpected Stripe-Version header")
                        result = double.api(method, parts.path[4:], params)
                        self._reply(200, json.dumps(result))
                    else:
                        status, body, headers = double.page(method, parts.path, params)
                        self._reply(status, body, "text/html; charset=utf-8", headers)
                except StripeError as exc:
                    error = {"type": "invalid_request_error", "message": exc.message}
                    if exc.param:
                        error["param"] = exc.param
                    self._reply(exc.status, json.dumps({"error": error}))

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

            def do_DELETE(self):
                self._handle("DELETE")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # --- API ------------------------------------------------------------------------------

    def api(self, method: str, path: str, params: dict) -> dict:
        with self.lock:
            self.requests.append((method, path))
            segments = path.strip("/").split("/")
            if method == "POST" and path == "customers":
                return self._create_customer(params)
            if method == "POST" and path == "products":
                return self._store(
                    {
                        "id": _id("prod"),
                        "object": "product",
                        "name": self._require(params, "name"),
                        "active": True,
                    }
                )
            if method == "POST" and path == "prices":
                return self._create_price(params)
            if method == "POST" and path == "webhook_endpoints":
                return self._store(
                    {
                        "id": _id("we"),
                        "object": "webhook_endpoint",
                        "url": self._require(params, "url"),
                        "enabled_events": self._require(params, "enabled_events"),
                        "api_version": params.get("api_version"),
                        "status": "enabled",
                        "secret": self.webhook_secret,
                    }
                )
            if method == "POST" and path == "checkout/sessions":
                return self._create_checkout_session(params)
            if method == "POST" and path == "subscriptions":
                return self._create_subscription(params)
            if method == "POST" and path == "billing_portal/sessions":
                customer = self._get(self._require(params, "customer"), "customer")
                return self._store(
                    {
                        "id": _id("bps"),
                        "object": "billing_portal.session",
                        "customer": customer["id"],
                        "return_url": params.get("return_url"),
                        "locale": params.get("locale"),
                        "url": f"{self.url}/p/session/{secrets.token_hex(8)}",
                    }
                )
            if method == "GET" and path == "invoices":
                customer = params.get("customer")
                data = [
                    obj
                    for obj in self.objects.values()
                    if obj["object"] == "invoice" and (not customer or obj["customer"] == customer)
                ]
                data.sort(key=lambda inv: inv["created"], reverse=True)
                limit = int(params.get("limit") or 10)
                return {
                    "object": "list",
                    "url": "/v1/invoices",
                    "has_more": len(data) > limit,
                    "data": data[:limit],
                }
            if method == "GET" and len(segments) == 2:
                kind = {
                    "customers": "customer",
                    "subscriptions": "subscription",
                    "invoices": "invoice",
                    "prices": "price",
                }.get(segments[0])
                if kind:
                    return self._get(segments[1], kind)
            if method == "GET" and len(segments) == 3 and segments[:2] == ["checkout", "sessions"]:
                return self._get(segments[2], "checkout.session")
            raise StripeError(404, f"Unrecognized request URL ({method}: /v1/{path}).")

    def _require(self, params: dict, name: str):
        if not params.get(name):
            raise StripeError(400, f"Missing required param: {name}.", name)
        return params[name]

    def _store(self, obj: dict) -> dict:
        obj.setdefault("livemode", False)
        obj.setdefault("created", int(time.time()))
        obj.setdefault("metadata", {})
        self.objects[obj["id"]] = obj
        return obj

    def _get(self, object_id: str, kind: str) -> dict:
        obj = self.objects.get(object_id)
        if obj is None or obj["object"] != kind:
            raise StripeError(404, f"No such {kind}: '{object_id}'", "id")
        return obj

    def _create_customer(self, params: dict) -> dict:
        return self._store(
            {
                "id": _id("cus"),
                "object": "customer",
                "name": params.get("name"),
                "email": params.get("email"),
                "metadata": params.get("metadata") or {},
                "preferred_locales": params.get("preferred_locales") or [],
                "invoice_settings": {"default_payment_method": None},
                "currency": None,
                "delinquent": False,
            }
        )

    def _create_price(self, params: dict) -> dict:
        product = self._get(self._require(params, "product"), "product")
        recurring = params.get("recurring") or {}
        return self._store(
            {
                "id": _id("price"),
                "object": "price",
                "active": True,
                "product": product["id"],
                "currency": self._require(params, "currency"),
                "unit_amount": int(self._require(params, "unit_amount")),
                "lookup_key": params.get("lookup_key"),
                "tax_behavior": params.get("tax_behavior", "unspecified"),
                "type": "recurring" if recurring else "one_time",
                "recurring": {
                    "interval": recurring.get("interval", "month"),
                    "interval_count": 1,
                    "usage_type": "licensed",
                }
                if recurring
                else None,
            }
        )

    def _create_checkout_session(self, params: dict) -> dict:
        if params.get("mode") != "subscription":
            raise StripeError(400, "This double supports mode=subscription only.", "mode")
        customer = self._get(self._require(params, "customer"), "customer")
        items = self._require(params, "line_items")
        for item in items:
            self._get(item.get("price", ""), "price")
        for method in params.get("payment_method_types") or []:
            if method not in ("card", "sepa_debit"):
                raise StripeError(400, f"Invalid payment_method_types: {method}")
        session_id = _id("cs")
        return self._store(
            {
                "id": session_id,
                "object": "checkout.session",
                "mode": "subscription",
                "status": "open",
                "payment_status": "unpaid",
                "customer": customer["id"],
                "client_reference_id": params.get("client_reference_id"),
                "subscription": None,
                "invoice": None,
                "success_url": self._require(params, "success_url"),
                "cancel_url": params.get("cancel_url"),
                "locale": params.get("locale"),
                "payment_method_types": params.get("payment_method_types") or ["card"],
                "metadata": params.get("metadata") or {},
                "currency": "eur",
                "expires_at": int(time.time()) + 24 * 3600,
                "url": f"{self.url}/c/pay/{session_id}",
                "_line_items": items,
                "_subscription_data": params.get("subscription_data") or {},
            }
        )

    def _create_subscription(self, params: dict, *, paid: bool = False) -> dict:
        customer = self._get(self._require(params, "customer"), "customer")
        items = self._require(params, "items")
        now = int(time.time())
        trial_days = int(params.get("trial_period_days") or 0)
        trial_end = now + trial_days * 86400 if trial_days else None
        period_end = trial_end or now + 30 * 86400
        sub_items = []
        for item in items:
            price = self._get(item.get("price", ""), "price")
            sub_items.append(
                {
                    "id": _id("si"),
                    "object": "subscription_item",
                    "price": price,
                    "quantity": int(item.get("quantity") or 1),
                    "current_period_start": now,
                    "current_period_end": period_end,
                }
            )
        collection = params.get("collection_method", "charge_automatically")
        if collection == "send_invoice" and not params.get("days_until_due"):
            raise StripeError(400, "days_until_due is required for send_invoice.", "days_until_due")
        subscription = self._store(
            {
                "id": _id("sub"),
                "object": "subscription",
                "customer": customer["id"],
                "status": "trialing" if trial_days else "active",
                "collection_method": collection,
                "days_until_due": int(params["days_until_due"])
                if params.get("days_until_due")
                else None,
                "items": {"object": "list", "data": sub_items, "has_more": False},
                "trial_start": now if trial_days else None,
                "trial_end": trial_end,
                "start_date": now,
                "cancel_at_period_end": False,
                "canceled_at": None,
                "ended_at": None,
                "metadata": params.get("metadata") or {},
                "latest_invoice": None,
            }
        )
        invoice = self._create_invoice(subscription, paid=paid or trial_days > 0)
        subscription["latest_invoice"] = invoice["id"]
        return subscription

    def _create_invoice(self, subscription: dict, *, paid: bool) -> dict:
        self._invoice_count += 1
        customer = self.objects[subscription["customer"]]
        now = int(time.time())
        trial = subscription["status"] == "trialing" and subscription["trial_end"]
        lines = []
        for item in subscription["items"]["data"]:
            amount = 0 if trial else item["price"]["unit_amount"] * item["quantity"]
            lines.append(
                {
                    "id": _id("il"),
                    "object": "line_item",
                    "amount": amount,
                    "currency": item["price"]["currency"],
                    "description": f"{item['quantity']} × Kitaportal",
                    "quantity": item["quantity"],
                    "period": {
                        "start": item["current_period_start"],
                        "end": item["current_period_end"],
                    },
                    "pricing": {
                        "type": "price_details",
                        "price_details": {
                            "price": item["price"]["id"],
                            "product": item["price"]["product"],
                        },
                        "unit_amount_decimal": str(0 if trial else item["price"]["unit_amount"]),
                    },
                }
            )
        subtotal = sum(line["amount"] for line in lines)
        tax = round(subtotal * 0.19)
        send_invoice = subscription["collection_method"] == "send_invoice"
        status = "paid" if (paid or subtotal == 0) and not (send_invoice and subtotal) else "open"
        invoice = self._store(
            {
                "id": _id("in"),
                "object": "invoice",
                "number": f"KP-{self._invoice_count:04d}",
                "customer": customer["id"],
                "customer_name": customer["name"],
                "customer_email": customer["email"],
                "collection_method": subscription["collection_method"],
                "currency": "eur",
                "status": status,
                "subtotal": subtotal,
                "total_taxes": [{"amount": tax, "tax_behavior": "exclusive"}] if tax else [],
                "total": subtotal + tax,
                "amount_due": subtotal + tax,
                "amount_paid": subtotal + tax if status == "paid" else 0,
                "amount_remaining": 0 if status == "paid" else subtotal + tax,
                "due_date": now + (subscription["days_until_due"] or 0) * 86400
                if send_invoice
                else None,
                "period_start": now,
                "period_end": now,
                "effective_at": now,
                "parent": {
                    "type": "subscription_details",
                    "subscription_details": {"subscription": subscription["id"], "metadata": {}},
                },
                "lines": {"object": "list", "data": lines, "has_more": False},
                "hosted_invoice_url": f"{self.url}/i/{secrets.token_hex(8)}",
                "invoice_pdf": f"{self.url}/i/{secrets.token_hex(8)}/pdf",
            }
        )
        return invoice

    # --- hosted pages ---------------------------------------------------------------------

    def page(self, method: str, path: str, params: dict):
        match = re.fullmatch(r"/c/pay/(cs_test_[0-9a-f]+)", path)
        if match:
            with self.lock:
                session = self.objects.get(match.group(1))
                if session is None:
                    return 404, "<h1>Not found</h1>", {}
                if method == "POST":
                    method_type = params.get("payment_method", "card")
                    self.complete_checkout(session["id"], payment_method=method_type)
                    target = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])
                    return 303, "", {"Location": target}
                price = self.objects[session["_line_items"][0]["price"]]
                amount = f"{price['unit_amount'] / 100:.2f} €".replace(".", ",")
                body = f"""<!DOCTYPE html><html lang="de"><head><meta charset="utf-8">
<title>Stripe Checkout (Testdouble)</title></head><body><main>
<h1>Zahlung (Testdouble)</h1><p>Abonnement: {html.escape(amount)} pro Monat</p>
<form method="post"><fieldset><legend>Zahlungsart</legend>
<label><input type="radio" name="payment_method" value="card" checked> Karte</label>
<label><input type="radio" name="payment_method" value="sepa_debit"> SEPA-Lastschrift</label>
</fieldset><button type="submit">Bezahlen</button></form></main></body></html>"""
                return 200, body, {}
        if path.startswith("/p/session/"):
            return 200, "<!DOCTYPE html><title>Customer portal</title><h1>Kundenportal</h1>", {}
        return 404, "<h1>Not found</h1>", {}

    # --- state changes as Stripe makes them (return the event) ------------------------------

    def complete_checkout(self, session_id: str, payment_method: str = "card") -> dict:
        with self.lock:
            session = self._get(session_id, "checkout.session")
            if session["status"] == "complete":
                return session
            data = session["_subscription_data"]
            subscription = self._create_subscription(
                {
                    "customer": session["customer"],
                    "items": session["_line_items"],
                    "trial_period_days": data.get("trial_period_days"),
                    "metadata": data.get("metadata") or session["metadata"],
                },
                paid=True,
            )
            subscription["default_payment_method"] = _id("pm")
            subscription["_payment_method_type"] = payment_method
            session.update(
                status="complete",
                payment_status="paid"
                if payment_method == "card" or subscription["status"] == "trialing"
                else "unpaid",
                subscription=subscription["id"],
                invoice=subscription["latest_invoice"],
            )
            if subscription["status"] == "trialing":
                session["payment_status"] = "no_payment_required"
            self.emit("checkout.session.completed", session)
            return session

    def set_subscription_status(self, subscription_id: str, status: str) -> dict:
        with self.lock:
            subscription = self._get(subscription_id, "subscription")
            previous = {"status": subscription["status"]}
            subscription["status"] = status
            if status == "canceled":
                subscription["canceled_at"] = subscription["ended_at"] = int(time.time())
                return self.emit("customer.subscription.deleted", subscription)
            return self.emit("customer.subscription.updated", subscription, previous)

    def finalize_invoice(self, subscription_id: str) -> dict:
        """A new billing period: the next invoice is finalised (and, for card/SEPA, paid)."""
        with self.lock:
            subscription = self._get(subscription_id, "subscription")
            if subscription["status"] == "trialing":
                subscription["status"] = "active"
            invoice = self._create_invoice(
                subscription, paid=subscription["collection_method"] != "send_invoice"
            )
            subscription["latest_invoice"] = invoice["id"]
            return self.emit("invoice.finalized", invoice)

    def event_for(self, event_type: str, obj: dict, previous: dict | None = None) -> dict:
        public = {k: v for k, v in obj.items() if not k.startswith("_")}
        event = {
            "id": _id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()),
            "data": {"object": json.loads(json.dumps(public))},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
        }
        if previous:
            event["data"]["previous_attributes"] = previous
        return event

    def emit(self, event_type: str, obj: dict, previous: dict | None = None) -> dict:
        event = self.event_for(event_type, obj, previous)
        self.events.append(event)
        if self.webhook_url:
            threading.Thread(target=self.deliver, args=(event,), daemon=True).start()
        return event

    def sign(self, payload: str, secret: str | None = None) -> str:
        return stripe.WebhookSignature.generate_signature_header(
            payload, secret or self.webhook_secret
        )

    def deliver(self, event: dict) -> int:
        payload = json.dumps(event)
        request = urllib.request.Request(
            self.webhook_url,
            data=payload.encode(),
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Stripe-Signature": self.sign(payload),
                **({"Host": self.webhook_host} if self.webhook_host else {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return 0
