/** kombu's SQS queue-name mangling, apart from the SDK-using queue code so it loads without the SDK. */

/** kombu's CHARS_REPLACE_TABLE: punctuation except `-` and `_` becomes `_`, and `.` becomes `-`. */
const PUNCTUATION = /[!"#$%&'()*+,/:;<=>?@[\\\]^`{|}~]/g;

/** kombu's `entity_name`: a legal SQS queue name, keeping a `.fifo` suffix. */
export function sqsQueueName(name: string): string {
  const mangle = (s: string): string => s.replace(PUNCTUATION, '_').replace(/\./g, '-');
  return name.endsWith('.fifo') ? `${mangle(name.slice(0, -'.fifo'.length))}.fifo` : mangle(name);
}
