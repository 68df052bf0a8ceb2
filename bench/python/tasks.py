"""Python Celery's side of the benchmark: the same task names as celeriac's bench app.

Run from this directory: /usr/bin/python3 -m celery -A tasks worker -P threads -c 8 -l warning
URLs come from BENCH_BROKER_URL, BENCH_BACKEND_URL and BENCH_COUNTER_URL.
"""
import os

import redis
from celery import Celery

app = Celery(
    "bench",
    broker=os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/14"),
    backend=os.environ.get("BENCH_BACKEND_URL", "redis://127.0.0.1:6379/15"),
)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
)

# One INCR per finished task when results are ignored: the same completion signal in every system.
counter = redis.Redis.from_url(os.environ.get("BENCH_COUNTER_URL", "redis://127.0.0.1:6379/14"))


@app.task(name="bench.noop")
def noop():
    return None


@app.task(name="bench.noop_ignored", ignore_result=True)
def noop_ignored():
    counter.incr("bench:done")
    return None
