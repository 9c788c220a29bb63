#!/usr/bin/env python3
"""Seeds a running Strata through its HTTP API (standard library only).

    seed.py BASE_URL OUT_DIR [ITEMS] [POSTS] [COMMENTS_PER_POST]
    seed.py --token-only BASE_URL OUT_DIR

Registers the benchmark user (or logs in when it exists), then creates ITEMS
items (default 10,000) and POSTS posts (default 1,000) with
COMMENTS_PER_POST comments each (default 3), over several keep-alive
connections in parallel. Writes OUT_DIR/token (an access token),
OUT_DIR/item_ids.txt and OUT_DIR/seed.json (counts and timing).
Also registers a second account whose token (OUT_DIR/token_writer) the
create_item scenario uses. With --token-only it just logs both in again and
rewrites the tokens (access tokens live 15 minutes; the leak check runs
longer than that).
"""

import http.client
import json
import os
import sys
import threading
import time
import urllib.parse

USERNAME = "bench"
EMAIL = "bench@example.com"
PASSWORD = "BenchPassw0rd"
# A second account for the create_item scenario, so the rows it writes never
# change what list_items (the first account's items) has to count and page.
WRITER = "bench_writer"
THREADS = 8


class Client:
    """One keep-alive HTTP/1.1 connection; reconnects once on a dropped socket."""

    def __init__(self, base):
        url = urllib.parse.urlsplit(base)
        if url.hostname not in ("127.0.0.1", "localhost"):
            raise SystemExit(f"refusing to seed a non-local server: {base}")
        self.host, self.port = url.hostname, url.port or 80
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)

    def call(self, method, path, body=None, token=None):
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                raw = resp.read()
                return resp.status, (json.loads(raw) if raw else None)
            except (ConnectionError, http.client.HTTPException):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def expect(status, body, want, what):
    if status != want:
        raise SystemExit(f"seeding failed: {what} answered {status}: {body}")
    return body


def login(base, username=USERNAME):
    """Registers `username` unless it exists, logs in, returns an access token."""
    client = Client(base)
    email = EMAIL if username == USERNAME else f"{username}@example.com"
    status, body = client.call(
        "POST",
        "/api/v1/auth/register",
        {"email": email, "username": username, "password": PASSWORD, "full_name": "Bench Mark"},
    )
    if status not in (201, 409):
        raise SystemExit(f"seeding failed: register answered {status}: {body}")
    status, body = client.call(
        "POST", "/api/v1/auth/login", {"username": username, "password": PASSWORD}
    )
    return expect(status, body, 200, "login")["access_token"]


def write_tokens(base, out):
    for username, name in ((USERNAME, "token"), (WRITER, "token_writer")):
        with open(os.path.join(out, name), "w") as f:
            f.write(login(base, username))


def parallel(base, count, work):
    """Runs work(client, i) for i in range(count) over THREADS connections."""
    results = [None] * count
    errors = []
    next_index = iter(range(count))
    lock = threading.Lock()

    def worker():
        client = Client(base)
        while True:
            with lock:
                i = next(next_index, None)
            if i is None or errors:
                return
            try:
                results[i] = work(client, i)
            except BaseException as err:  # noqa: BLE001 - reported below
                errors.append(err)
                return

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--token-only":
        write_tokens(sys.argv[2], sys.argv[3])
        return
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    base, out = sys.argv[1], sys.argv[2]
    n_items = int(sys.argv[3]) if len(sys.argv) > 3 else 10_000
    n_posts = int(sys.argv[4]) if len(sys.argv) > 4 else 1_000
    n_comments = int(sys.argv[5]) if len(sys.argv) > 5 else 3
    os.makedirs(out, exist_ok=True)
    started = time.monotonic()
    token = login(base)

    def create_item(client, i):
        status, body = client.call(
            "POST",
            "/api/v1/items",
            {"title": f"Item {i:05d}", "description": f"Seeded item number {i} for the benchmark."},
            token,
        )
        return expect(status, body, 201, "POST /api/v1/items")["id"]

    item_ids = parallel(base, n_items, create_item)
    items_done = time.monotonic()

    def create_post(client, i):
        status, body = client.call(
            "POST",
            "/api/v1/posts",
            {"title": f"Post {i:04d}", "body": f"Body of seeded post {i}. " * 8},
            token,
        )
        post_id = expect(status, body, 201, "POST /api/v1/posts")["id"]
        for c in range(n_comments):
            status, body = client.call(
                "POST", f"/api/v1/posts/{post_id}/comments", {"body": f"Comment {c} on post {i}."}, token
            )
            expect(status, body, 201, "POST /api/v1/posts/{id}/comments")
        return post_id

    parallel(base, n_posts, create_post)
    finished = time.monotonic()

    write_tokens(base, out)
    with open(os.path.join(out, "item_ids.txt"), "w") as f:
        f.write("\n".join(item_ids) + "\n")
    summary = {
        "items": n_items,
        "posts": n_posts,
        "comments": n_posts * n_comments,
        "seconds": round(finished - started, 2),
        "items_per_second": round(n_items / max(items_done - started, 1e-9), 1),
    }
    with open(os.path.join(out, "seed.json"), "w") as f:
        json.dump(summary, f)
    print(
        f"seeded {n_items} items, {n_posts} posts, {n_posts * n_comments} comments "
        f"in {summary['seconds']} s"
    )


if __name__ == "__main__":
    main()
