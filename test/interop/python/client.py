"""A Python Celery client for the interop tests: `client.py '<json command>'` prints one JSON object.

Commands (all take optional "timeout", seconds):
  {"op": "call", "task": name, "args": [...], "kwargs": {...}, "options": {...}, "links": [sig, ...]}
      send_task and get(): {"id", "state", "ok", "result" | error fields, "sent_at", "links": [...]}.
      options: queue, priority, countdown, task_id, plus "eta_in"/"expires_in" (seconds from now, may
      be negative) turned into aware datetimes, and numeric "expires". Each link is a signature dict;
      its result is waited for and reported under "links".
  {"op": "send", "calls": [{"task", "args", "kwargs", "options"}, ...]}  send only: {"ids": [...]}
  {"op": "get", "id": id}                                   AsyncResult(id).get()
  {"op": "store", "id": id, "state": "SUCCESS", "result": x} backend.store_result
  {"op": "store_failure", "id": id, "message": text}         backend.mark_as_failure(ValueError(text))
  {"op": "meta", "id": id}                                  backend.get_task_meta (raw)
  {"op": "watch", "task": name, "args": [...], "options": {...}}  send, then poll the state until ready:
      the outcome plus "states": [{"state", "at", "exc_type"}] for every state change seen.
  {"op": "chain", "steps": [step, ...]}                     chain(*steps)() built here; outcome plus "parents"
  {"op": "chord", "header": [step, ...], "body": step}       chord(header)(body) built here; outcome
      a step is {"task", "args", "kwargs", "options", "immutable"}; options as in "call" (e.g. queue).
Errors from get() are reported as {"ok": false, "exc_type", "exc_message", "exc_args", "exc_module"}.
"""
import json
import sys
import time
from datetime import datetime, timedelta, timezone

from celery import chain, chord, signature

from tasks import app


def options_from(raw):
    opts = dict(raw or {})
    now = datetime.now(timezone.utc)
    if 'eta_in' in opts:
        opts['eta'] = now + timedelta(seconds=opts.pop('eta_in'))
    if 'expires_in' in opts:
        opts['expires'] = now + timedelta(seconds=opts.pop('expires_in'))
    return opts


def outcome(result, timeout):
    try:
        value = result.get(timeout=timeout, propagate=True, disable_sync_subtasks=False)
        return {'id': result.id, 'ok': True, 'state': result.state, 'result': value}
    except Exception as exc:  # noqa: BLE001 - reported to the test
        return {
            'id': result.id,
            'ok': False,
            'state': result.state,
            'exc_type': type(exc).__name__,
            'exc_module': type(exc).__module__,
            'exc_message': str(exc),
            'exc_args': list(exc.args),
        }


def step(spec):
    sig = app.signature(spec['task'], args=spec.get('args', []), kwargs=spec.get('kwargs', {}),
                        immutable=spec.get('immutable', False))
    return sig.set(**options_from(spec.get('options')))


def main():
    cmd = json.loads(sys.argv[1])
    op = cmd['op']
    timeout = cmd.get('timeout', 15)
    if op == 'call':
        links = [signature(dict(link), app=app) for link in cmd.get('links', [])]
        for link in links:
            link.freeze()
        opts = options_from(cmd.get('options'))
        if links:
            opts['link'] = links
        sent_at = time.time()
        result = app.send_task(cmd['task'], args=cmd.get('args', []), kwargs=cmd.get('kwargs', {}), **opts)
        out = outcome(result, timeout)
        out['sent_at'] = sent_at
        out['links'] = [outcome(app.AsyncResult(link.id), timeout) for link in links]
        return out
    if op == 'send':
        ids = []
        for call in cmd['calls']:
            r = app.send_task(call['task'], args=call.get('args', []), kwargs=call.get('kwargs', {}),
                              **options_from(call.get('options')))
            ids.append(r.id)
        return {'ids': ids}
    if op == 'get':
        return outcome(app.AsyncResult(cmd['id']), timeout)
    if op == 'watch':
        result = app.send_task(cmd['task'], args=cmd.get('args', []), kwargs=cmd.get('kwargs', {}),
                               **options_from(cmd.get('options')))
        states, deadline = [], time.time() + timeout
        while time.time() < deadline:
            meta = app.backend.get_task_meta(result.id)
            state = meta['status']
            if not states or states[-1]['state'] != state:
                info = meta.get('result')
                # The backend turns a stored exception (RETRY, FAILURE) back into a Python exception.
                exc_type = type(info).__name__ if isinstance(info, BaseException) else None
                states.append({'state': state, 'at': time.time(), 'exc_type': exc_type})
            if state in ('SUCCESS', 'FAILURE', 'REVOKED'):
                break
            time.sleep(0.02)
        out = outcome(result, 1)
        out['states'] = states
        return out
    if op == 'store':
        app.backend.store_result(cmd['id'], cmd.get('result'), cmd.get('state', 'SUCCESS'))
        return {'stored': cmd['id']}
    if op == 'store_failure':
        app.backend.mark_as_failure(cmd['id'], ValueError(cmd['message']))
        return {'stored': cmd['id']}
    if op == 'meta':
        meta = app.backend.get_task_meta(cmd['id'])
        return {k: meta.get(k) for k in ('status', 'result', 'traceback', 'date_done', 'task_id')}
    if op == 'chain':
        result = chain(*[step(s) for s in cmd['steps']])()
        out = outcome(result, timeout)
        parents, node = [], result.parent
        while node is not None:
            parents.append(outcome(node, timeout))
            node = node.parent
        out['parents'] = parents
        return out
    if op == 'chord':
        result = chord([step(s) for s in cmd['header']])(step(cmd['body']))
        return outcome(result, timeout)
    raise SystemExit(f'unknown op {op!r}')


if __name__ == '__main__':
    print(json.dumps(main(), default=str))
