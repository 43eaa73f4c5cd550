#!/usr/bin/env python3
"""Sends every request-body example of a running server's spec, as Swagger UI's "Try it out"
would, and fails unless each is answered 2xx.

usage: swagger_examples.py BASE_URL CREDENTIALS_JSON

BASE_URL is a fresh demo (`esma-api serve --demo`), CREDENTIALS_JSON the file its
`--demo-credentials-file` wrote. The spec is the one the server serves (its examples are dated
from the server's today), its path parameters filled from their examples. Operations run in the
order a user would try them (roll, register, referral and its patch, assessment and decision,
the case's reviews, evidence and exit, a withdrawal, a webhook, the calendar, a school), each with
the token of the role that does it. An operation with a body this list does not know fails the
run, so a new one cannot go untried.
"""
import base64
import json
import sys
import urllib.error
import urllib.parse
import urllib.request

# (method, path, role): the order of use, and who does it.
ORDER = [
    ("put", "/api/v1/schools/{urn}/pupils", "school"),
    ("post", "/api/v1/schools/{urn}/registers", "school"),
    ("post", "/api/v1/schools/{urn}/part-time-timetables", "school"),
    ("patch", "/api/v1/part-time-timetables/{id}", "school"),
    ("post", "/api/v1/part-time-timetables/{id}/reviews", "school"),
    ("post", "/api/v1/referrals", "la"),
    ("patch", "/api/v1/referrals/{id}", "la"),
    ("post", "/api/v1/referrals/{id}/assessment", "la"),
    ("post", "/api/v1/referrals/{id}/decision", "la"),
    ("put", "/api/v1/cases/{id}/plan", "la"),
    ("post", "/api/v1/cases/{id}/reviews", "la"),
    ("patch", "/api/v1/cases/{id}/reviews/{review_id}", "la"),
    ("post", "/api/v1/cases/{id}/medical-evidence", "la"),
    ("post", "/api/v1/lessons", "la"),
    ("post", "/api/v1/cases/{id}/exit", "la"),
    ("post", "/api/v1/referrals/{id}/withdraw", "la"),
    ("post", "/api/v1/webhooks", "la"),
    ("post", "/api/v1/alerts/{id}/acknowledge", "la"),
    ("post", "/api/v1/webhooks/{id}/deliveries/retry", "la"),
    ("post", "/api/v1/webhooks/{id}/enable", "la"),
    ("put", "/api/v1/calendar/{academic_year}", "la"),
    ("put", "/api/v1/schools/{urn}", "la"),
    ("post", "/oauth/token", "la"),
]


def main():
    base, creds_file = sys.argv[1].rstrip("/"), sys.argv[2]
    creds = json.load(open(creds_file))

    def basic(role):
        c = creds[role]
        raw = f"{c['client_id']}:{c['client_secret']}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def send(method, url, body=None, content_type=None, auth=None):
        req = urllib.request.Request(base + url, data=body, method=method.upper())
        if content_type:
            req.add_header("Content-Type", content_type)
        if auth:
            req.add_header("Authorization", auth)
        try:
            with urllib.request.urlopen(req, timeout=30) as res:
                return res.status, res.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    tokens = {}
    for role in ("la", "school"):
        status, text = send("post", "/oauth/token", b"grant_type=client_credentials",
                            "application/x-www-form-urlencoded", basic(role))
        if status != 200:
            sys.exit(f"token for {role}: {status} {text}")
        tokens[role] = "Bearer " + json.loads(text)["access_token"]

    status, text = send("get", "/api-docs/openapi.json")
    if status != 200:
        sys.exit(f"spec: {status}")
    spec = json.loads(text)
    print(spec["info"]["description"].split("**Examples**")[-1].split(":")[0].strip())

    with_body = {(m, p) for p, item in spec["paths"].items() for m, op in item.items()
                 if isinstance(op, dict) and "requestBody" in op}
    ordered = {(m, p) for m, p, _ in ORDER}
    failures = []
    for m, p in sorted(with_body - ordered):
        failures.append(f"{m.upper()} {p}: has a request body but is not in this walk's ORDER")

    ran = 0
    for method, path, role in ORDER:
        op = spec["paths"].get(path, {}).get(method)
        if op is None:
            failures.append(f"{method.upper()} {path}: not in the spec")
            continue
        url = path
        for param in op.get("parameters", []):
            if param["in"] != "path":
                continue
            if "example" not in param:
                failures.append(f"{method.upper()} {path}: path parameter {param['name']} has no example")
                continue
            url = url.replace("{" + param["name"] + "}", urllib.parse.quote(str(param["example"])))
        contents = op.get("requestBody", {}).get("content", {})
        if not contents:  # an operation without a body in the order (the reassessment)
            contents = {None: {"example": None}}
        for media, content in contents.items():
            if media is not None and "example" not in content:
                failures.append(f"{method.upper()} {path} ({media}): no example")
                continue
            example = content["example"]
            if media is None:
                body = None
            elif media == "application/x-www-form-urlencoded":
                body = urllib.parse.urlencode(example).encode()
            elif isinstance(example, str) and not media.endswith("json"):
                body = example.encode()
            else:
                body = json.dumps(example).encode()
            auth = basic(role) if path == "/oauth/token" else tokens[role]
            status, text = send(method, url, body, media, auth)
            ran += 1
            line = f"{status} {method.upper()} {url} ({media or 'no body'}, {role})"
            print(line)
            if not 200 <= status < 300:
                failures.append(f"{line}: {text[:600]}")
                continue
            if path.endswith(("/registers", "/pupils", "/lessons")):
                report = json.loads(text)
                if report.get("rejected"):
                    failures.append(f"{line}: rows rejected: {json.dumps(report.get('errors'))[:600]}")
                elif path.endswith("/lessons") and not report.get("inserted"):
                    failures.append(f"{line}: no new lesson stored: {text[:600]}")
    print(f"{ran} examples sent, {len(failures)} failed")
    if failures:
        print("\n".join(failures), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
