/**
 * How a PutEvents failure should be treated. `unreachable`: the request never got an answer (no
 * connection, DNS, timeout) — an outbox keeps such events and tries again later. `retryable`:
 * throttling or a server-side error. Anything else (a malformed entry, access denied) will fail
 * the same way every time.
 */
export type FailureKind = 'unreachable' | 'retryable' | 'permanent';

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'EPIPE',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
]);
const RETRYABLE_NAMES = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'InternalFailure',
  'InternalException',
  'InternalError',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'RequestTimeout',
  'RequestTimeoutException',
]);

export function classifyError(error: unknown): FailureKind {
  const e = error as {
    name?: string;
    code?: string;
    cause?: { code?: string };
    $metadata?: { httpStatusCode?: number };
  };
  const code = e?.code ?? e?.cause?.code;
  if ((code && NETWORK_CODES.has(code)) || e?.name === 'TimeoutError') return 'unreachable';
  if (e?.name && RETRYABLE_NAMES.has(e.name)) return 'retryable';
  const status = e?.$metadata?.httpStatusCode;
  if (status !== undefined && (status >= 500 || status === 429)) return 'retryable';
  return 'permanent';
}

/** Per-entry error codes PutEvents answers with that are worth another attempt. */
export function isRetryableEntryCode(code: string | undefined): boolean {
  return code === undefined || RETRYABLE_NAMES.has(code);
}

export function describeError(error: unknown): string {
  const e = error as { name?: string; message?: string; code?: string };
  const code = e?.code && !String(e.message).includes(e.code) ? ` (${e.code})` : '';
  return `${e?.name ?? 'Error'}: ${e?.message || 'no message'}${code}`;
}
