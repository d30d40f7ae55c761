import { createHash } from 'node:crypto';

/** Access key and secret a local principal signs its calls with. */
export interface LocalCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/**
 * A principal the local runtime hands credentials to: a Lambda function (its execution role,
 * assumed with the function's name as session name, as Lambda does) or a service that acts with a
 * role of the template (a Firehose delivery stream writing to S3).
 */
export interface LocalPrincipal {
  /** What the metrics and logs call it: the function's or delivery stream's logical id. */
  readonly label: string;
  readonly roleArn: string;
  /** `arn:aws:sts::<account>:assumed-role/<role name>/<session>`: the "User:" of AWS's denials. */
  readonly sessionArn: string;
  readonly credentials: LocalCredentials;
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/**
 * Stable per principal (derived from its logical id), so a restarted runtime hands out the same
 * keys; `ASIA` like the temporary keys Lambda gives functions. Not secret: the local endpoints do
 * not verify signatures, they only read which key signed.
 */
export function localCredentials(label: string): LocalCredentials {
  const digest = createHash('sha256').update(`inferbus-local:${label}`).digest();
  const id = [...digest.subarray(0, 16)].map((b) => BASE32[b % 32]).join('');
  return {
    accessKeyId: `ASIA${id}`,
    secretAccessKey: createHash('sha256').update(`inferbus-local-secret:${label}`).digest('hex').slice(0, 40),
  };
}

/** `arn:aws:iam::123:role/path/name` → `name`. */
export function roleNameOf(roleArn: string): string {
  return roleArn.split('/').at(-1) ?? roleArn;
}

export function assumedRoleArn(roleArn: string, session: string): string {
  const account = roleArn.split(':')[4] ?? '';
  return `arn:aws:sts::${account}:assumed-role/${roleNameOf(roleArn)}/${session}`;
}

export function localPrincipal(label: string, roleArn: string, session: string): LocalPrincipal {
  return {
    label,
    roleArn,
    sessionArn: assumedRoleArn(roleArn, session),
    credentials: localCredentials(label),
  };
}

/**
 * The access key id a request was signed with: SigV4's `Credential=<key>/...` in the
 * Authorization header, a presigned URL's `X-Amz-Credential`, or SigV2's `AWS <key>:<signature>`.
 */
export function accessKeyIdOf(authorization: string | undefined, url?: string): string | undefined {
  if (authorization) {
    const v4 = /Credential=([^/\s,]+)\//.exec(authorization);
    if (v4) return v4[1];
    const v2 = /^AWS ([^:\s]+):/.exec(authorization);
    if (v2) return v2[1];
  }
  if (url?.includes('X-Amz-Credential=')) {
    const query = url.slice(url.indexOf('?') + 1);
    const credential = new URLSearchParams(query).get('X-Amz-Credential');
    return credential?.split('/')[0];
  }
  return undefined;
}
