import { LOCAL_ACCOUNT, type ReceivedMessage, type SqsMessageAttribute } from '../model.js';
import { encodeReceiptHandle } from './handles.js';
import type { Message } from './queue.js';

export interface StoredReceivedMessage extends ReceivedMessage {
  /** MD5 of all the message's attributes (absent when it has none). */
  readonly md5OfMessageAttributes?: string;
}

const EMPTY_ATTRIBUTES: Record<string, SqsMessageAttribute> = Object.freeze({});

/** A message as a receive returns it, with the handle of its latest receive. */
export function receivedMessage(m: Message, body: string): StoredReceivedMessage {
  const attributes: Record<string, string> = {
    SenderId: LOCAL_ACCOUNT,
    SentTimestamp: String(m.sentAt),
    ApproximateReceiveCount: String(m.receiveCount),
    ApproximateFirstReceiveTimestamp: String(m.firstReceiveAt),
  };
  if (m.origin !== undefined) attributes.DeadLetterQueueSourceArn = m.origin;
  const out: StoredReceivedMessage = {
    messageId: m.id,
    receiptHandle: encodeReceiptHandle(m.id, m.receipt),
    body,
    md5OfBody: m.md5,
    attributes,
    messageAttributes: m.attributes ?? EMPTY_ATTRIBUTES,
    ...(m.attributesMd5 === undefined ? {} : { md5OfMessageAttributes: m.attributesMd5 }),
  };
  return out;
}
