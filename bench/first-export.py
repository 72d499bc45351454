#!/usr/bin/env python3
"""Cold start of a drain process (issue 18 item 5): start COMMAND, watch FILE (a file destination's
traces.jsonl) and report, as JSON, the time from exec to the first exported span, the spans written
in the first 10 s, the time until EXPECTED spans were written, and the process's peak RSS.

usage: first-export.py REPORT FILE EXPECTED TIMEOUT_S -- COMMAND...
Spans are counted by their "spanId" keys as the lines arrive (the load generator's spans have no
links or events, so one key is one span)."""
import json
import os
import signal
import subprocess
import sys
import time

report, path, expected, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
command = sys.argv[sys.argv.index("--") + 1:]
marker = b'"spanId"'

log = open(report + ".out.txt", "wb")
t0 = time.monotonic()
process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
first = None
all_done = None
at_10s = None
spans = 0
position = 0
tail = b""
rss_max = 0
timeline = []  # spans written per second since exec
next_second = 1.0
while True:
    now = time.monotonic() - t0
    if os.path.exists(path):
        with open(path, "rb") as f:
            f.seek(position)
            chunk = f.read()
        if chunk:
            position += len(chunk)
            data = tail + chunk
            spans += data.count(marker)
            tail = data[-(len(marker) - 1):]
            if first is None:
                first = now
    try:
        with open(f"/proc/{process.pid}/status") as s:
            for line in s:
                if line.startswith("VmRSS:"):
                    rss_max = max(rss_max, int(line.split()[1]))
    except FileNotFoundError:
        pass
    if at_10s is None and now >= 10:
        at_10s = spans
    while now >= next_second:
        timeline.append(spans)
        next_second += 1
    if spans >= expected and all_done is None:
        all_done = now
    if (all_done is not None and at_10s is not None) or now > timeout or process.poll() is not None:
        break
    time.sleep(0.005)

exited = process.poll()
if exited is None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()

result = {
    "firstExportSeconds": round(first, 3) if first is not None else None,
    "spansInFirst10s": at_10s,
    "allSeconds": round(all_done, 3) if all_done is not None else None,
    "spans": spans,
    "expected": expected,
    "rssMaxMiB": round(rss_max / 1024, 1),
    "exitedEarly": exited,
    "spansPerSecond": timeline,
}
with open(report, "w") as out:
    json.dump(result, out)
    out.write("\n")
print(json.dumps({k: v for k, v in result.items() if k != "spansPerSecond"}))
