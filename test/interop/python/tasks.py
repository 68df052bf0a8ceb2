"""Python Celery app for the interop tests.

Configured from the environment: BROKER_URL, RESULT_BACKEND, QUEUE (the default queue). Task names
match what the celeriac side sends or serves (`tasks.add` lives in celeriac, `tasks.mul` here).
"""
import os
import time

from celery import Celery

app = Celery(
    'tasks',
    broker=os.environ.get('BROKER_URL', 'redis://127.0.0.1:6379/2'),
    backend=os.environ.get('RESULT_BACKEND', 'redis://127.0.0.1:6379/3'),
)
app.conf.update(
    task_default_queue=os.environ.get('QUEUE', 'celery'),
    task_serializer='json',
    result_serializer='json',
    accept_content=['json'],
    result_expires=3600,
    worker_hijack_root_logger=True,
    broker_connection_max_retries=3,
)


@app.task(name='tasks.mul')
def mul(x, y):
    return x * y


@app.task(name='tasks.py_fail')
def py_fail(*_args):
    raise ValueError('python says no')


@app.task(name='tasks.echo')
def echo(*args, **kwargs):
    return {'args': list(args), 'kwargs': kwargs}


@app.task(name='tasks.py_stamp')
def py_stamp(*_args):
    """The wall-clock time (seconds) at which the task ran."""
    return time.time()
