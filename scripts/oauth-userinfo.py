#!/usr/bin/env python3
"""A token endpoint for Dovecot's OAuth2 passdb in tests (scripts/mailstack).

Dovecot (introspection_mode = auth) sends "Authorization: Bearer <token>" here and reads
the account from the JSON answer, as it does with Microsoft Graph's /me or Google's
userinfo. Tokens are lines "<token> <email>" in the file given as the first argument,
read at every request, so a test can issue and revoke tokens by editing the file.
"""
import http.server
import json
import sys

TOKENS, PORT = sys.argv[1], int(sys.argv[2])


class UserInfo(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        auth = self.headers.get("Authorization", "")
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else ""
        with open(TOKENS) as f:
            users = dict(line.split(None, 1) for line in f if line.strip())
        email = users.get(token, "").strip()
        if email:
            status, body = 200, {"email": email, "active": "true"}
        else:
            status, body = 401, {"error": "invalid_token"}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", PORT), UserInfo).serve_forever()
