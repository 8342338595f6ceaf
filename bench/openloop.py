"""Open-loop load at a fixed rate, no coordinated omission (bench/report.md's openloop block)."""

import http.client
import queue
import threading
import time
from collections import Counter


def offered(host, port, requests, rate: float, seconds: float, warmup: float = 2.0, senders=32):
    due, done = queue.Queue(), []  # done: (latency ms, status) of the counted requests

    def sender() -> None:
        conn = http.client.HTTPConnection(host, port, timeout=10)
        while (item := due.get()) is not None:
            at, counted, (method, path, headers, body) = item
            time.sleep(max(0.0, at - time.perf_counter()))
            code = 0
            for _ in (1, 2):  # a kept-alive connection the server closed: once more, anew
                try:
                    conn.request(method, path, body=body, headers=headers)
                    (resp := conn.getresponse()).read()
                    code = resp.status
                    break
                except (OSError, http.client.HTTPException):
                    conn.close()  # the next request opens it again
            if counted:
                done.append(((time.perf_counter() - at) * 1000, code))  # list.append: atomic

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(senders)]
    for t in threads:
        t.start()
    t0, skip = time.perf_counter() + 0.05, int(rate * warmup)
    for i in range(skip + int(rate * seconds)):
        while due.qsize() > senders:  # a short queue: each item waits for its own time
            time.sleep(0.0005)
        due.put((t0 + i / rate, i >= skip, requests[i % len(requests)]))
    for _ in threads:
        due.put(None)
    for t in threads:
        t.join()
    took = time.perf_counter() - (t0 + skip / rate)  # from the first counted request's due time
    lat, codes = sorted(ms for ms, _ in done), dict(Counter(code for _, code in done))
    at = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]  # noqa: E731
    return {"offered": rate, "achieved": len(lat) / took, "n": len(lat), "p50_ms": at(0.5),
            "p99_ms": at(0.99), "max_ms": lat[-1], "codes": codes}  # fmt: skip
