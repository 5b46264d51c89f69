#!/usr/bin/env python3
"""Waits until DB's images table has at least TARGET rows or process PID is
gone (or TIMEOUT seconds pass); the fault scripts then kill -9 the process
in the middle of a build. Usage: wait_rows.py DB TARGET PID [TIMEOUT]"""
import os
import sqlite3
import sys
import time


def rows(db):
    try:
        c = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=0.2)
        n = c.execute("SELECT COUNT(*) FROM images").fetchone()[0]
        c.close()
        return n
    except sqlite3.Error:
        return 0


def main(db, target, pid, timeout=120):
    end = time.time() + float(timeout)
    while time.time() < end:
        if rows(db) >= int(target):
            return 0
        try:
            os.kill(int(pid), 0)
        except OSError:
            return 1
        time.sleep(0.02)
    return 2


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
