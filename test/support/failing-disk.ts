import { fdatasyncSync } from 'node:fs';
import { writeFully } from '../../local/fs-sync';
import type { DurableWrites } from '../../local/storage-health';

/**
 * Durable writes that fail like a full disk (or a failing device) while `failing` is set: a write
 * puts down the first half of its bytes, then throws, as a write that runs out of space mid-way
 * does; a sync throws. Unset, they write to the disk.
 */
export class FailingDisk implements DurableWrites {
  failing: 'ENOSPC' | 'EIO' | undefined;
  failedWrites = 0;

  write(fd: number, buf: Buffer): void {
    if (this.failing === undefined) {
      writeFully(fd, buf);
      return;
    }
    this.failedWrites++;
    writeFully(fd, buf.subarray(0, buf.length >> 1));
    throw errno(this.failing, 'write');
  }

  sync(fd: number): void {
    if (this.failing !== undefined) {
      this.failedWrites++;
      throw errno(this.failing, 'fsync');
    }
    fdatasyncSync(fd);
  }
}

function errno(code: 'ENOSPC' | 'EIO', syscall: string): NodeJS.ErrnoException {
  const text = code === 'ENOSPC' ? 'no space left on device' : 'i/o error';
  return Object.assign(new Error(`${code}: ${text}, ${syscall}`), { code, syscall });
}
