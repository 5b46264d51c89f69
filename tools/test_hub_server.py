#!/usr/bin/python3
"""A fake Hugging Face hub for tests/test_pull.c, bound to 127.0.0.1 only.

    test_hub_server.py --root DIR --port-file FILE [--log FILE] [--max-seconds S]

It writes small fake model repos under DIR/<owner>/<name>/ (the test compares
downloads with these bytes), binds 127.0.0.1 on a free port (port 0), writes the
port number to FILE, and serves until killed, until its parent process exits,
or for at most S seconds (300):

  GET /api/models/<owner>/<name>/revision/<rev>?blobs=true   hub API JSON
  GET /<owner>/<name>/resolve/<rev>/<file>                  the file; LFS files
      (model.safetensors) answer 302 to /cdn/... with X-Linked-Etag/X-Linked-Size
  GET /cdn/<owner>/<name>/<file>                            LFS bytes, with ETag

Range requests (bytes=N- and bytes=N-M) get 206 with Content-Range. <rev> is
"main" or the fake commit sha; anything else is 404.

A repo's behaviour comes from the dash-separated words of its name:
  cut        the first GET of model.safetensors sends CUT_AT bytes, then drops the connection
  stall      the first GET of model.safetensors sends CUT_AT bytes, then stalls for 30 s
  norange    ignore Range headers (always 200 with the whole file)
  badsha     the API and X-Linked-Etag advertise a wrong sha256 for model.safetensors
  badblob    the API blobId and the ETag of config.json are a wrong git blob id
  static     a plain static server: no API (404), no ETag, no redirect; no
             tokenizer.json (vocab.json + merges.txt instead) and no optional files
  noweights  like static, and model.safetensors is 404

Each request is appended to the log as "GET <path> range=<Range or ->".
All sha256 digests come from Python's hashlib, independent of the C code.
"""
import argparse
import hashlib
import json
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMMIT = "0123456789abcdef0123456789abcdef01234567"
WEIGHTS_SIZE = 300007
CUT_AT = 100000
LFS = {"model.safetensors"}
REPOS = ["test/good", "test/cut-a", "test/cut-b", "test/cut-norange", "test/badsha",
         "test/badblob", "test/stall", "test/static", "test/noweights"]


def det_bytes(seed, n):
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}:{i}".encode()).digest()
        i += 1
    return bytes(out[:n])


def repo_files(repo):
    words = set(repo.split("/")[1].split("-"))
    plain = words & {"static", "noweights"}
    files = {
        "config.json": json.dumps({"model_type": "clip", "repo": repo}).encode(),
        "preprocessor_config.json": json.dumps({"crop_size": 224, "image_mean": [0.5]}).encode(),
    }
    if plain:
        files["vocab.json"] = json.dumps({"a</w>": 0, "b</w>": 1}).encode()
        files["merges.txt"] = b"#version: 0.2\na b\n"
    else:
        files["tokenizer.json"] = json.dumps({"model": {"type": "BPE"}, "repo": repo}).encode()
        files["tokenizer_config.json"] = b'{"model_max_length": 77}'
        files["special_tokens_map.json"] = b'{"bos_token": "<|startoftext|>"}'
    if "noweights" not in words:
        files["model.safetensors"] = det_bytes(repo, WEIGHTS_SIZE)
    return words, files


class Hub:
    def __init__(self, root):
        self.repos = {}
        self.served = {}
        self.lock = threading.Lock()
        for repo in REPOS:
            words, files = repo_files(repo)
            d = os.path.join(root, repo)
            os.makedirs(d, exist_ok=True)
            for name, data in files.items():
                with open(os.path.join(d, name), "wb") as f:
                    f.write(data)
            self.repos[repo] = (words, files)

    def first_serve(self, key):
        with self.lock:
            n = self.served.get(key, 0)
            self.served[key] = n + 1
            return n == 0


def git_blob_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def advertised_blob(words, name, data):
    if "badblob" in words and name == "config.json":
        return git_blob_sha1(b"not the real file")
    return git_blob_sha1(data)


def advertised_sha(words, name, data):
    if "badsha" in words and name == "model.safetensors":
        return hashlib.sha256(b"not the real file").hexdigest()
    return hashlib.sha256(data).hexdigest()


class Handler(BaseHTTPRequestHandler):
    hub = None
    log_path = None

    def log_message(self, fmt, *args):
        pass

    def log_request_line(self):
        if self.log_path:
            with open(self.log_path, "a") as f:
                f.write(f"GET {self.path} range={self.headers.get('Range') or '-'}\n")

    def reply(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.log_request_line()
        path, _, _query = self.path.partition("?")
        parts = path.strip("/").split("/")
        if len(parts) == 6 and parts[0] == "api" and parts[1] == "models" and parts[4] == "revision":
            return self.api("/".join(parts[2:4]), parts[5])
        if len(parts) == 5 and parts[2] == "resolve":
            return self.resolve("/".join(parts[:2]), parts[3], parts[4])
        if len(parts) == 4 and parts[0] == "cdn":
            return self.send_file("/".join(parts[1:3]), parts[3], lfs=True)
        self.reply(404, b"not found", [("X-Error-Code", "EntryNotFound")])

    def api(self, repo, rev):
        entry = self.hub.repos.get(repo)
        if not entry or "static" in entry[0] or "noweights" in entry[0] or rev not in ("main", COMMIT):
            return self.reply(404, b'{"error":"Repository not found"}')
        words, files = entry
        siblings = []
        for name, data in sorted(files.items()):
            s = {"rfilename": name, "size": len(data), "blobId": advertised_blob(words, name, data)}
            if name in LFS:
                s["lfs"] = {"sha256": advertised_sha(words, name, data), "size": len(data),
                            "pointerSize": 134}
            siblings.append(s)
        body = json.dumps({"id": repo, "sha": COMMIT, "siblings": siblings}).encode()
        self.reply(200, body, [("Content-Type", "application/json")])

    def resolve(self, repo, rev, name):
        entry = self.hub.repos.get(repo)
        if not entry or rev not in ("main", COMMIT) or name not in entry[1]:
            return self.reply(404, b"Entry not found", [("X-Error-Code", "EntryNotFound"),
                                                        ("X-Error-Message", "Entry not found")])
        words, files = entry
        if name in LFS and not words & {"static", "noweights"}:
            sha = advertised_sha(words, name, files[name])
            return self.reply(302, b"", [("Location", f"/cdn/{repo}/{name}"),
                                         ("X-Linked-Etag", f'"{sha}"'),
                                         ("X-Linked-Size", str(len(files[name]))),
                                         ("ETag", f'"{git_blob_sha1(files[name])}"')])
        self.send_file(repo, name, lfs=False)

    def send_file(self, repo, name, lfs):
        entry = self.hub.repos.get(repo)
        if not entry or name not in entry[1]:
            return self.reply(404, b"Entry not found")
        words, files = entry
        data = files[name]
        headers = []
        if "static" not in words and "noweights" not in words:
            etag = advertised_sha(words, name, data) if lfs else advertised_blob(words, name, data)
            headers.append(("ETag", f'"{etag}"'))
        start, end, code = 0, len(data) - 1, 200
        rng = self.headers.get("Range")
        if rng and "norange" not in words and rng.startswith("bytes="):
            a, _, b = rng[6:].partition("-")
            start = int(a)
            end = min(int(b), len(data) - 1) if b else len(data) - 1
            if start >= len(data):
                return self.reply(416, b"", [("Content-Range", f"bytes */{len(data)}")])
            code = 206
            headers.append(("Content-Range", f"bytes {start}-{end}/{len(data)}"))
        body = data[start:end + 1]
        cut = (words & {"cut", "stall"} and name == "model.safetensors"
               and self.hub.first_serve((repo, name)))
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if cut:
            self.wfile.write(body[:CUT_AT])
            self.wfile.flush()
            if "stall" in words:
                time.sleep(30)
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(body)


def watchdog(max_seconds):
    """Exits when the test that started us dies (we get reparented) or after max_seconds,
    so a crashed test never leaves a server behind."""
    parent, start = os.getppid(), time.monotonic()
    while os.getppid() == parent and time.monotonic() - start < max_seconds:
        time.sleep(0.2)
    os._exit(0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log")
    ap.add_argument("--max-seconds", type=float, default=300)
    args = ap.parse_args()
    threading.Thread(target=watchdog, args=(args.max_seconds,), daemon=True).start()
    Handler.hub = Hub(args.root)
    Handler.log_path = args.log
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)  # loopback only, free port
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(tmp, args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
