#!/usr/bin/env python3
"""Load and abuse checks for `lisa serve` on 127.0.0.1 only (issue 17):
200 concurrent searches while a build runs, a 2 GB upload (announced, with
and without Expect: 100-continue) refused early, and 100 slow clients
trickling upload bodies; the server's RSS before and after (VmRSS, VmHWM).

  python3 bench/hostile_load.py [BUILD_DIR]    (needs BUILD/lisa; ~1 min)
"""
import os, shutil, socket, subprocess, sys, tempfile, threading, time

BUILD = sys.argv[1] if len(sys.argv) > 1 else "build"
LISA = os.path.join(BUILD, "lisa")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def rss(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("VmRSS", "VmHWM")):
                k, v = line.split(":")
                out[k] = int(v.split()[0]) // 1024
    return out


def request(port, raw, timeout=60):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(raw)
    data = b""
    while True:
        try:
            k = s.recv(65536)
        except socket.timeout:
            break
        if not k:
            break
        data += k
        head, _, body = data.partition(b"\r\n\r\n")
        if _ and b"Content-Length:" in head:
            n = int(head.split(b"Content-Length:")[1].split(b"\r\n")[0])
            if len(body) >= n:
                break
    s.close()
    return int(data.split(b" ")[1]) if data.startswith(b"HTTP/") else 0


def main():
    tmp = tempfile.mkdtemp(prefix="lisa-hostile-")
    lib = os.path.join(tmp, "lib")
    os.makedirs(lib)
    src = "tests/data/images"
    k = 0
    for name in sorted(os.listdir(src)):  # a library of real fixture images, copied 20 times
        if name.endswith((".jpg", ".png", ".webp")):
            for c in range(20):
                d = os.path.join(lib, "c%02d" % c)
                os.makedirs(d, exist_ok=True)
                shutil.copy(os.path.join(src, name), os.path.join(d, "%03d_%s" % (k, name)))
            k += 1
    port = free_port()
    p = subprocess.Popen([LISA, "serve", "--data", os.path.join(tmp, "data"), "--port", str(port), "--folder", lib,
                          "--no-model", "--quiet"], stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            if request(port, b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") == 200:
                break
        except OSError:
            time.sleep(0.1)
    print("library: %d files; server RSS at start %s" % (sum(len(f) for _, _, f in os.walk(lib)), rss(p.pid)))

    # 200 concurrent searches while a build runs
    assert request(port, b"POST /api/build HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n") == 202
    res = [None] * 200

    def one(i):
        t = time.monotonic()
        q = b"GET /api/search?q=gray+land&top_k=10 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        res[i] = (request(port, q), (time.monotonic() - t) * 1e3)

    ts = [threading.Thread(target=one, args=(i,)) for i in range(200)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    wall = time.monotonic() - t0
    lat = sorted(r[1] for r in res)
    codes = {}
    for r in res:
        codes[r[0]] = codes.get(r[0], 0) + 1
    print("200 concurrent searches during a build: statuses %s, latency ms p50 %.0f p95 %.0f max %.0f, wall %.1f s"
          % (codes, lat[100], lat[190], lat[-1], wall))
    while b'"state":"running"' in (lambda s: (s.sendall(b"GET /api/build HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
                                              s.recv(65536))[1])(socket.create_connection(("127.0.0.1", port))):
        time.sleep(0.2)
    print("after the build: RSS %s" % rss(p.pid))

    # a 2 GB upload, announced
    hdr = (b"POST /api/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n"
           b"Content-Length: 2147483648\r\n")
    for expect in (True, False):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        t = time.monotonic()
        s.sendall(hdr + (b"Expect: 100-continue\r\n" if expect else b"") + b"\r\n")
        sent = 0
        if not expect:  # start sending the body at once, as a client that does not wait
            s.settimeout(0.05)
            chunk = b"x" * 65536
            while sent < (1 << 31):
                try:
                    sent += s.send(chunk)
                except (socket.timeout, BlockingIOError):
                    pass
                except OSError:
                    break
                try:
                    if s.recv(1, socket.MSG_PEEK):
                        break
                except (socket.timeout, BlockingIOError):
                    pass
                except OSError:
                    break
            s.settimeout(30)
        try:
            ans = s.recv(200)
        except OSError:
            ans = b""
        print("2 GB upload%s: %r after %.3f s, %.1f MB of body sent; RSS %s"
              % (" with Expect: 100-continue" if expect else "", ans.split(b"\r\n")[0], time.monotonic() - t,
                 sent / 1e6, rss(p.pid)))
        s.close()

    # 100 slow clients trickling an upload body (10 bytes every 100 ms for 10 s)
    socks = []
    body = b"--XyZ\r\nContent-Disposition: form-data; name=\"files\"; filename=\"slow.png\"\r\n\r\n\x89PNG\r\n\x1a\n"
    for i in range(100):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"POST /api/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; "
                  b"boundary=XyZ\r\nContent-Length: 1000000\r\n\r\n" + body)
        socks.append(s)
    for _ in range(100):
        for s in socks:
            try:
                s.send(b"0123456789")
            except OSError:
                pass
        time.sleep(0.1)
    print("100 slow uploads held open 10 s: RSS %s; health %d" %
          (rss(p.pid), request(port, b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")))
    for s in socks:
        s.close()
    time.sleep(1)
    print("tmp dir after the slow clients left: %d files" % len(os.listdir(os.path.join(tmp, "data", "tmp"))))
    p.terminate()
    p.wait(timeout=30)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
