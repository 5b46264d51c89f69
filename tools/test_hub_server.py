#!/usr/bin/python3
"""A fake Hugging Face hub for tests/test_pull.c, bound to 127.0.0.1 only.

    test_hub_server.py --root DIR --port-file FILE [--log FILE] [--max-seconds S]
                       [--token T] [--model OWNER/NAME=MODELDIR ...]

It writes small fake model repos under DIR/<owner>/<name>/ (the test compares
downloads with these bytes), binds 127.0.0.1 on two free ports (port 0): the hub,
and a second "CDN" port that private repos redirect their LFS files to. It writes
"HUBPORT CDNPORT" to FILE, and serves until killed, until its parent process exits,
or for at most S seconds (300). --model serves the files of a real model
directory (e.g. a sharded one) as another repo, under the same name rules:

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
  private    API and resolve answer 401 unless the request has "Authorization:
             Bearer T" (--token); LFS files redirect to the CDN port (another
             origin, like the real CDN), which needs no token
  spiece     no tokenizer.json: SigLIP 1's spiece.model instead (and the optional files)
  badindex   no model.safetensors; a model.safetensors.index.json whose shard
             name climbs out of the model directory ("../")

Every *.safetensors file is an LFS file (redirected, with X-Linked-* headers).

Each request is appended to the log as
"GET <path> range=<Range or -> auth=<yes|no> port=<the port that served it>";
the token itself is never logged.
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
REPOS = ["test/good", "test/cut-a", "test/cut-b", "test/cut-norange", "test/badsha",
         "test/badblob", "test/stall", "test/static", "test/noweights", "test/private",
         "test/badindex", "test/spiece"]


def is_lfs(name):
    return name.endswith(".safetensors")


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
    if "spiece" in words:
        files["spiece.model"] = det_bytes(repo + "/spiece", 4099)
        files["tokenizer_config.json"] = b'{"model_max_length": 64}'
        files["special_tokens_map.json"] = b'{"eos_token": "</s>"}'
    elif plain:
        files["vocab.json"] = json.dumps({"a</w>": 0, "b</w>": 1}).encode()
        files["merges.txt"] = b"#version: 0.2\na b\n"
    else:
        files["tokenizer.json"] = json.dumps({"model": {"type": "BPE"}, "repo": repo}).encode()
        files["tokenizer_config.json"] = b'{"model_max_length": 77}'
        files["special_tokens_map.json"] = b'{"bos_token": "<|startoftext|>"}'
    if "badindex" in words:
        files["model.safetensors.index.json"] = json.dumps(
            {"metadata": {}, "weight_map": {"a.weight": "../escape.safetensors"}}).encode()
    elif "noweights" not in words:
        files["model.safetensors"] = det_bytes(repo, WEIGHTS_SIZE)
    return words, files


def model_files(repo, src):
    """The regular files directly in the model directory src, as repo's files."""
    words = set(repo.split("/")[1].split("-"))
    files = {}
    for name in sorted(os.listdir(src)):
        path = os.path.join(src, name)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                files[name] = f.read()
    return words, files


class Hub:
    def __init__(self, root, models=()):
        self.repos = {}
        self.served = {}
        self.lock = threading.Lock()
        self.token = None
        self.cdn_port = None
        made = [(repo, repo_files(repo)) for repo in REPOS]
        made += [(repo, model_files(repo, src)) for repo, src in models]
        for repo, (words, files) in made:
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
            auth = "yes" if self.headers.get("Authorization") else "no"
            with open(self.log_path, "a") as f:
                f.write(f"GET {self.path} range={self.headers.get('Range') or '-'} auth={auth} "
                        f"port={self.server.server_address[1]}\n")

    def authorized(self, words):
        """Private repos need the bearer token; answers 401 and returns False otherwise."""
        if "private" not in words or (self.hub.token and
                                      self.headers.get("Authorization") == f"Bearer {self.hub.token}"):
            return True
        self.reply(401, b'{"error":"Invalid credentials in Authorization header"}',
                   [("X-Error-Code", "RepoNotFound"), ("X-Error-Message", "Invalid credentials in Authorization header")])
        return False

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
        if not self.authorized(words):
            return
        siblings = []
        for name, data in sorted(files.items()):
            s = {"rfilename": name, "size": len(data), "blobId": advertised_blob(words, name, data)}
            if is_lfs(name):
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
        if not self.authorized(words):
            return
        if is_lfs(name) and not words & {"static", "noweights"}:
            sha = advertised_sha(words, name, files[name])
            where = f"http://127.0.0.1:{self.hub.cdn_port}" if "private" in words else ""
            return self.reply(302, b"", [("Location", f"{where}/cdn/{repo}/{name}"),
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
    ap.add_argument("--token")
    ap.add_argument("--model", action="append", default=[])
    args = ap.parse_args()
    threading.Thread(target=watchdog, args=(args.max_seconds,), daemon=True).start()
    Handler.hub = Hub(args.root, [m.split("=", 1) for m in args.model])
    Handler.hub.token = args.token
    Handler.log_path = args.log
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)  # loopback only, free port
    cdn = ThreadingHTTPServer(("127.0.0.1", 0), Handler)     # another origin: same host, another port
    Handler.hub.cdn_port = cdn.server_address[1]
    threading.Thread(target=cdn.serve_forever, daemon=True).start()
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{server.server_address[1]} {cdn.server_address[1]}")
    os.replace(tmp, args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
