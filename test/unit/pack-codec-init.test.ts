import { describe, expect, it, vi } from 'vitest';

const init = vi.fn();
vi.mock('@bokuweb/zstd-wasm', () => ({ init: () => init() }));

describe('pack codec start-up', () => {
  it('says which file a bundle lacks when the zstd wasm cannot load, and tries again on the next call', async () => {
    const { createPackCodec, ZSTD_WASM } = await import('../../functions/core/packing/codec');
    init.mockRejectedValueOnce(new Error("ENOENT: no such file or directory, open '/var/task/zstd.wasm'"));
    await expect(createPackCodec()).rejects.toThrow(
      `cannot load the zstd WebAssembly module the pack codec needs (ENOENT: no such file or directory, open '/var/task/zstd.wasm'); a bundled handler must ship ${ZSTD_WASM} next to its bundle`,
    );
    init.mockResolvedValueOnce(undefined);
    await expect(createPackCodec()).resolves.toMatchObject({ version: 'zstd-json-1' });
    expect(init).toHaveBeenCalledTimes(2);
  });
});
