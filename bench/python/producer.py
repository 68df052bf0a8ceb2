"""Producer for the Python Celery runs: a Python client for the Python worker, timed here, printed as JSON.

  producer.py enqueue <one> <bulk>            -> {"oneMs", "bulkMs"}        (no worker running)
  producer.py worker <tasks> <latency> <latency warm-up> <secs> <worker pid> <e2e warm-up>
                                              -> {"e2eResultsMs", "e2eCpu", "e2eIgnoredMs", "latenciesMs"}

Celery has no bulk publish API; "bulk" reuses one producer (connection) for every send, as
`group.apply_async` does. Completion checks match the TypeScript side: results = every
celery-task-meta-<id> key holds SUCCESS (oldest first, see wait_results); ignored = the counter.
"""
import json
import os
import sys
import time

import redis

from tasks import app, noop, noop_ignored

backend = redis.Redis.from_url(os.environ["BENCH_BACKEND_URL"])
counter = redis.Redis.from_url(os.environ["BENCH_COUNTER_URL"])


def ms_since(start):
    return (time.perf_counter() - start) * 1000


def send_bulk(task, n):
    with app.producer_or_acquire() as producer:
        return [task.apply_async(producer=producer).id for _ in range(n)]


def poll(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.005)


def wait_results(ids, timeout):
    """Oldest first: one GET per poll while the worker is behind, then MGET 200 at a time (as in bench/lib/util.ts)."""
    state = {"next": 0}

    def success(raw):
        status = json.loads(raw).get("status") if raw is not None else None
        if status == "FAILURE":
            raise RuntimeError(f"a task failed: {raw[:300]!r}")
        return status == "SUCCESS"

    def done():
        if state["next"] < len(ids) and not success(backend.get(f"celery-task-meta-{ids[state['next']]}")):
            return False
        while state["next"] < len(ids):
            batch = ids[state["next"] : state["next"] + 200]
            values = backend.mget([f"celery-task-meta-{i}" for i in batch])
            pending = next((k for k, raw in enumerate(values) if not success(raw)), None)
            state["next"] += len(batch) if pending is None else pending
            if pending is not None:
                return False
        return True

    poll(done, timeout, f"{len(ids)} results")


def e2e_results(n, timeout):
    start = time.perf_counter()
    wait_results(send_bulk(noop, n), timeout)
    return ms_since(start)


def enqueue(one, bulk):
    noop.delay()  # connect outside the timed region
    start = time.perf_counter()
    for _ in range(one):
        noop.delay()
    one_ms = ms_since(start)
    start = time.perf_counter()
    send_bulk(noop, bulk)
    return {"oneMs": one_ms, "bulkMs": ms_since(start)}


def process_cpu_ms(pid):
    """User + system CPU of a process and its threads, ms (utime and stime are in clock ticks)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def redis_cpu_ms():
    info = counter.info("cpu")
    return (info["used_cpu_user"] + info["used_cpu_sys"]) * 1000


def with_worker(tasks, latency, warmup, timeout, worker_pid, e2e_warmup):
    noop.delay().get(timeout=timeout)  # ready = it answered a round trip
    if e2e_warmup > 0:
        e2e_results(e2e_warmup, timeout)  # warm-up burst
    before = (process_cpu_ms(worker_pid), time.process_time(), redis_cpu_ms())
    e2e_results_ms = e2e_results(tasks, timeout)
    e2e_cpu = {
        "workerMs": process_cpu_ms(worker_pid) - before[0],
        "producerMs": (time.process_time() - before[1]) * 1000,
        "redisMs": redis_cpu_ms() - before[2],
    }

    base = int(counter.get("bench:done") or 0)
    start = time.perf_counter()
    send_bulk(noop_ignored, tasks)
    poll(lambda: int(counter.get("bench:done") or 0) >= base + tasks, timeout, "ignored tasks")
    e2e_ignored_ms = ms_since(start)

    for _ in range(warmup):  # unmeasured, as on the TypeScript side
        noop.delay().get(timeout=timeout)
    latencies = []
    for _ in range(latency):
        start = time.perf_counter()
        noop.delay().get(timeout=timeout)
        latencies.append(ms_since(start))
    return {"e2eResultsMs": e2e_results_ms, "e2eCpu": e2e_cpu, "e2eIgnoredMs": e2e_ignored_ms, "latenciesMs": latencies}


if __name__ == "__main__":
    mode, *rest = sys.argv[1:]
    if mode == "enqueue":
        out = enqueue(int(rest[0]), int(rest[1]))
    else:
        out = with_worker(int(rest[0]), int(rest[1]), int(rest[2]), float(rest[3]), int(rest[4]), int(rest[5]))
    print(json.dumps(out))
