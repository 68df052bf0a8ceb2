"""Helpers for test/interop/sqs-kombu.test.ts, run with Debian's /usr/bin/python3 (kombu 5.2.4).

  read      argv[2]: an SQS Message as JSON ({"Body", "ReceiptHandle", "MessageId"}); decodes it with
            kombu's own SQS code (Channel._message_to_python) and Celery's body decoding, prints JSON.
  protocol  the protocol botocore speaks to SQS, then the outcome of one boto3 call to ENDPOINT.
"""
import base64
import json
import os
import sys

from kombu.transport import SQS
from kombu.utils.json import loads


class _Stub:
    """Just enough of kombu's SQS Channel for _message_to_python (no connection, no boto3 client)."""

    _noack_queues = set()
    _optional_b64_decode = staticmethod(SQS.Channel._optional_b64_decode)


def read():
    message = json.loads(sys.argv[2])
    payload = SQS.Channel._message_to_python(_Stub(), message, 'celery', 'https://queue-url')
    props = payload['properties']
    body = loads(base64.b64decode(payload['body']).decode()) if props.get('body_encoding') == 'base64' else payload['body']
    args, kwargs, embed = body
    print(json.dumps({
        'task': payload['headers']['task'],
        'id': payload['headers']['id'],
        'args': args,
        'kwargs': kwargs,
        'delivery_tag_is_receipt': props['delivery_tag'] == message['ReceiptHandle'],
        'delivery_info': {k: v for k, v in props['delivery_info'].items() if k in ('exchange', 'routing_key')},
        'MessageGroupId': props.get('MessageGroupId'),
    }))


def protocol():
    import boto3
    import botocore
    client = boto3.client('sqs', region_name='us-east-1', endpoint_url=os.environ['ENDPOINT'],
                          aws_access_key_id='a', aws_secret_access_key='b')
    outcome = 'ok'
    try:
        client.list_queues()
    except Exception as exc:  # noqa: BLE001 - the point is to report what the emulator answered
        outcome = f'{type(exc).__name__}: {exc}'
    print(json.dumps({
        'botocore': botocore.__version__,
        'protocol': client.meta.service_model.protocol,
        'outcome': outcome,
    }))


if __name__ == '__main__':
    {'read': read, 'protocol': protocol}[sys.argv[1]]()
