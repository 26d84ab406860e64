// The addon loader's choice and its reason.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { cudaAddonPath, loadAddon } from '../../lib/bindings/loader.js';

describe('loadAddon', () => {
  it('loads the CPU addon on request and says so', () => {
    const loaded = loadAddon('cpu');
    expect(loaded.kind).toBe('cpu');
    expect(loaded.reason).toBe('CPU addon: the CPU backend was requested');
    const info = loaded.addon.info();
    expect(info.backend).toBe('cpu');
    expect(info.threads).toBeGreaterThan(0);
    expect(typeof info.gemm).toBe('string');
  });

  it('falls back to the CPU addon in auto mode when no CUDA device answers, with the reason', () => {
    const loaded = loadAddon('auto');
    if (loaded.kind === 'cuda') {
      expect(loaded.reason).toMatch(/device\(s\) answered/);
      return;
    }
    expect(loaded.reason).toMatch(
      existsSync(cudaAddonPath) ? /the CUDA addon is built but no device answered|failed to load/ : /no CUDA addon is built/,
    );
  });

  it('refuses --device cuda with E_DEVICE when CUDA cannot be used', () => {
    let loaded;
    try {
      loaded = loadAddon('cuda');
    } catch (err) {
      expect(err).toMatchObject({ code: 'E_DEVICE', message: expect.stringMatching(/^CUDA was requested but /) });
      return;
    }
    expect(loaded.kind).toBe('cuda');
  });
});
