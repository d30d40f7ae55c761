/** IPv4 / IPv6 parsing and CIDR ranges, as bigint addresses (v4: 32 bits, v6: 128 bits). */
export interface IpRange {
  readonly version: 4 | 6;
  readonly first: bigint;
  readonly last: bigint;
}

interface IpAddress {
  readonly version: 4 | 6;
  readonly value: bigint;
}

const HEXTET = /^[0-9a-fA-F]{1,4}$/;

/** Dotted-quad IPv4 as an unsigned 32-bit number, or -1. Hand-rolled: this runs once per event value. */
function parseIpv4Number(text: string): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return -1;
    } else if (c === 46 && digits > 0 && dots < 3) {
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else {
      return -1;
    }
  }
  return dots === 3 && digits > 0 ? value * 256 + octet : -1;
}

function parseIpv4(text: string): bigint | null {
  const value = parseIpv4Number(text);
  return value < 0 ? null : BigInt(value);
}

function parseHextets(part: string): bigint[] | null {
  if (part === '') return [];
  const out: bigint[] = [];
  const groups = part.split(':');
  for (let i = 0; i < groups.length; i++) {
    const group = groups[i] ?? '';
    if (i === groups.length - 1 && group.includes('.')) {
      const v4 = parseIpv4(group);
      if (v4 === null) return null;
      out.push(v4 >> 16n, v4 & 0xffffn);
    } else if (HEXTET.test(group)) {
      out.push(BigInt(Number.parseInt(group, 16)));
    } else {
      return null;
    }
  }
  return out;
}

function parseIpv6(text: string): bigint | null {
  const zone = text.indexOf('%');
  const bare = zone >= 0 ? text.slice(0, zone) : text;
  const halves = bare.split('::');
  if (halves.length > 2) return null;
  const head = parseHextets(halves[0] ?? '');
  const tail = halves.length === 2 ? parseHextets(halves[1] ?? '') : [];
  if (head === null || tail === null) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  let value = 0n;
  for (const h of [...head, ...Array<bigint>(missing).fill(0n), ...tail]) value = (value << 16n) | h;
  return value;
}

export function parseIp(text: string): IpAddress | null {
  const v4 = parseIpv4(text);
  if (v4 !== null) return { version: 4, value: v4 };
  if (!text.includes(':')) return null;
  const v6 = parseIpv6(text);
  return v6 === null ? null : { version: 6, value: v6 };
}

/** Parses "addr/bits"; returns the error reason (event-ruler's wording) when malformed. */
export function parseCidr(text: string): IpRange | string {
  const parts = text.split('/');
  if (parts.length !== 2) return "Malformed CIDR, one '/' required";
  const bitsText = parts[1] ?? '';
  if (!/^[+-]?\d+$/.test(bitsText)) return 'Malformed CIDR, mask bits must be an integer';
  const bits = Number(bitsText);
  if (bits < 0) return 'Malformed CIDR, mask bits must not be negative';
  const ip = parseIp(parts[0] ?? '');
  if (ip === null) return `Invalid IP address: ${parts[0]}`;
  const width = ip.version === 4 ? 32 : 128;
  // event-ruler rejects a full-length mask (/32, /128); a single address is written without one.
  if (bits > width - 1) return `IPv${ip.version} mask bits must be < ${width}`;
  const hostBits = BigInt(width - bits);
  const hostMask = (1n << hostBits) - 1n;
  // Host bits set in the base are ignored: 10.0.0.7/24 covers 10.0.0.0-10.0.0.255 (event-ruler's
  // CIDR.cidr floors the range since 1.2.2: aws/event-ruler#89, "use floor of provided range").
  return { version: ip.version, first: ip.value & ~hostMask, last: ip.value | hostMask };
}

let lastText = '';
let lastIp: IpAddress | null = null;

export function ipInRange(range: IpRange, text: string): boolean {
  // The same event value is usually tested against several ranges in a row.
  if (text !== lastText) {
    lastIp = parseIp(text);
    lastText = text;
  }
  const ip = lastIp;
  return ip !== null && ip.version === range.version && ip.value >= range.first && ip.value <= range.last;
}
