"""The cluster test's WebSocket part (standard library only): a user holds a
socket through nginx while another comments on their post all through the
fault timeline; whenever the socket drops (its instance killed, Redis or
PostgreSQL restarted) it reconnects with `after=<last seq>`. At the end every
acknowledged comment must have reached the socket exactly once, with event
numbers that never repeat or go back (docs/realtime.md).
"""

import base64
import json
import os
import socket
import struct
import threading
import time


class Socket:
    """A minimal RFC 6455 client: text frames out (masked), text, ping and
    close frames in."""

    def __init__(self, host, port, path, timeout=5):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        head = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
        self.sock.sendall(head.encode())
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            response += chunk
        status_line, _, rest = response.partition(b"\r\n")
        if b" 101 " not in status_line:
            raise ConnectionError(status_line.decode(errors="replace"))
        self.buffer = rest.partition(b"\r\n\r\n")[2]

    def _read(self, n):
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def _send(self, opcode, payload):
        mask = os.urandom(4)
        header = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 65536:
            header += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def recv_json(self):
        """The next text message, parsed; answers pings; raises on close."""
        while True:
            first, second = self._read(2)
            opcode, n = first & 0x0F, second & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read(8))[0]
            payload = self._read(n)
            if opcode == 0x1:
                return json.loads(payload)
            if opcode == 0x9:
                self._send(0xA, payload)
            elif opcode == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                raise ConnectionError(f"closed by the server ({code})")

    def close(self):
        try:
            self._send(0x8, struct.pack("!H", 1000))
        except OSError:
            pass
        self.sock.close()


class Watch:
    """The socket side: every notification received, and the reconnects."""

    def __init__(self):
        self.lock = threading.Lock()
        self.comments = []  # comment ids, in arrival order
        self.seqs = []
        self.reconnects = 0
        self.problems = []
        # Set once the first socket is open: comments made before it are
        # before its starting point, and not its to receive.
        self.ready = threading.Event()


def watcher(api, base_port, token, watch, stop, first_port=None):
    """Holds a socket through nginx (`base_port`), the first one on
    `first_port` directly when given (an instance the timeline kills)."""
    last = None
    port = first_port or base_port
    while not stop.is_set():
        status, _, body = api("POST", "/api/v1/ws/tickets", token=token)
        if status != 201:
            time.sleep(0.2)
            continue
        path = f"/api/v1/ws?ticket={body['ticket']}" + (f"&after={last}" if last is not None else "")
        try:
            ws = Socket("127.0.0.1", port, path)
        except (OSError, ConnectionError):
            port = base_port
            time.sleep(0.2)
            continue
        try:
            ws.sock.settimeout(1)
            while not stop.is_set():
                try:
                    message = ws.recv_json()
                except socket.timeout:
                    continue
                if message["type"] == "ready":
                    if last is None:
                        last = message["seq"]
                    watch.ready.set()
                    continue
                with watch.lock:
                    if message["seq"] <= last:
                        watch.problems.append(f"seq {message['seq']} after {last}")
                    last = message["seq"]
                    watch.seqs.append(message["seq"])
                    if message["type"] == "notification.created":
                        watch.comments.append(message["data"]["data"]["comment_id"])
        except (OSError, ConnectionError, ValueError):
            port = base_port
            with watch.lock:
                watch.reconnects += 1
        finally:
            ws.close()


def commenter(api, ledger, token, comments_path, acknowledged, stop):
    n = 0
    while not stop.is_set():
        n += 1
        status, _, body = api("POST", comments_path, {"body": f"live {n}"}, token)
        ledger.record(status, "POST comment")
        if status == 201:
            acknowledged.append(body["id"])
        time.sleep(0.2)


def start(api, base_port, register, ledger, run, stop, killed_port):
    """Starts two watchers of one user (one through nginx, one first held on
    `killed_port`, the instance the timeline kills) and the commenter (which
    stops with `stop`); returns what `check` needs."""
    _, author = register(f"author_{run}")
    _, reader = register(f"reader_{run}")
    status, _, post = api("POST", "/api/v1/posts", {"title": "Live", "body": "through faults"}, author)
    assert status == 201, (status, post)
    watches, acknowledged, stop_watch = [Watch(), Watch()], [], threading.Event()
    threads = [
        threading.Thread(target=commenter, args=(api, ledger, reader, f"/api/v1/posts/{post['id']}/comments",
                                                 acknowledged, stop)),
        threading.Thread(target=watcher, args=(api, base_port, author, watches[0], stop_watch)),
        threading.Thread(target=watcher, args=(api, base_port, author, watches[1], stop_watch, killed_port)),
    ]
    for thread, watch in zip(threads[1:], watches):
        thread.start()
        assert watch.ready.wait(10), "a socket did not open"
    threads[0].start()
    return watches, acknowledged, threads, stop_watch


def check(watches, acknowledged, threads, stop_watch):
    """Waits for the last comments to arrive, stops the watchers, and returns
    (summary, failures)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if all(set(acknowledged) <= set(watch.comments) for watch in watches):
            break
        time.sleep(0.2)
    stop_watch.set()
    for thread in threads:
        thread.join()
    failures, parts = [], []
    for name, watch in zip(("via_nginx", "on_killed_instance"), watches):
        failures.extend(f"{name}: {problem}" for problem in watch.problems)
        missing = set(acknowledged) - set(watch.comments)
        if missing:
            failures.append(f"{name}: {len(missing)} acknowledged comments never reached the socket")
        twice = len(watch.comments) - len(set(watch.comments))
        if twice:
            failures.append(f"{name}: {twice} notifications reached the socket twice")
        parts.append(f"socket_{name}: events={len(watch.seqs)} missing={len(missing)} repeated={twice} "
                     f"reconnects={watch.reconnects}")
    summary = f"acknowledged_comments={len(acknowledged)} " + " ".join(parts)
    return summary, failures
