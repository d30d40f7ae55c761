import { receiptHandleIsInvalid } from './errors.js';

/** Receipt handles carry the message id and the token of one receive: opaque to callers. */
export function encodeReceiptHandle(messageId: string, token: string): string {
  return Buffer.from(`${messageId} ${token}`, 'utf8').toString('base64url');
}

export function decodeReceiptHandle(handle: unknown): { id: string; token: string } {
  if (typeof handle !== 'string' || handle.length === 0 || handle.length > 1024) {
    throw receiptHandleIsInvalid(String(handle));
  }
  const text = Buffer.from(handle, 'base64url').toString('utf8');
  const space = text.indexOf(' ');
  if (space <= 0 || space === text.length - 1) throw receiptHandleIsInvalid(handle);
  return { id: text.slice(0, space), token: text.slice(space + 1) };
}
