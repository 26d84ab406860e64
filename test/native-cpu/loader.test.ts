// The addon loader's choice and its reason, and the child-process probe that vets a CUDA addon
// before this process loads it.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';

import { clearAddonCache, cudaCandidates, cudaPackageName, loadAddon, probeAddon } from '../../lib/bindings/loader.js';

const dir = mkdtempSync(join(tmpdir(), 'wan-loader-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A stand-in addon: a CommonJS file the probe require()s like a .node file. */
function fakeAddon(name: string, body: string): string {
  const file = join(dir, `${name}.cjs`);
  writeFileSync(file, body);
  return file;
}

describe('loadAddon', () => {
  afterEach(() => {
    delete process.env.WAN_VIDEO_CUDA_ADDON;
    clearAddonCache();
  });

  it('loads the CPU addon on request and says so', () => {
    const loaded = loadAddon('cpu');
    expect(loaded.kind).toBe('cpu');
    expect(loaded.reason).toBe('CPU addon: the CPU backend was requested');
    const info = loaded.addon.info();
    expect(info.backend).toBe('cpu');
    expect(info.threads).toBeGreaterThan(0);
    expect(typeof info.gemm).toBe('string');
  });

  it('in auto mode without a usable CUDA addon loads the CPU one and names every candidate it rejected', () => {
    const loaded = loadAddon('auto');
    if (loaded.kind === 'cuda') {
      expect(loaded.reason).toMatch(/device\(s\) answered/);
      return;
    }
    if (cudaCandidates().length === 0) {
      expect(loaded.reason).toMatch(/no CUDA addon is installed \(@wan-video\/linux-x64-cuda13 or @wan-video\/linux-x64-cuda12/);
    }
  });

  it('falls back to the CPU addon when the CUDA candidate crashes on load, saying so', () => {
    process.env.WAN_VIDEO_CUDA_ADDON = fakeAddon('crash', "process.kill(process.pid, 'SIGSEGV');\n");
    const loaded = loadAddon('auto');
    expect(loaded.kind).toBe('cpu');
    expect(loaded.reason).toMatch(/^CPU addon: \$WAN_VIDEO_CUDA_ADDON crashed while loading \(SIGSEGV\)/);
  });

  it('refuses --device cuda with E_DEVICE when no CUDA addon can be used, with the probe\'s reason', () => {
    process.env.WAN_VIDEO_CUDA_ADDON = fakeAddon('nodevice', "exports.info = () => ({ cudaBuild: true, cudaDevices: [], cudaError: 'cudaErrorNoDevice' });\n");
    expect(() => loadAddon('cuda')).toThrow(expect.objectContaining({
      code: 'E_DEVICE',
      message: expect.stringMatching(/^CUDA was requested but \$WAN_VIDEO_CUDA_ADDON loaded, but no CUDA device answered \(cudaErrorNoDevice\)/),
    }));
  });
});

describe('probeAddon', () => {
  it('reports a load failure with the loader\'s message (e.g. a missing CUDA runtime)', () => {
    const file = fakeAddon('missing', "throw new Error('libcudart.so.12: cannot open shared object file: No such file or directory');\n");
    const p = probeAddon(file);
    expect(p.ok).toBe(false);
    expect(p.reason).toMatch(/^failed to load: .*libcudart\.so\.12: cannot open shared object file/);
  });

  it('accepts an addon whose device query answers, listing the devices', () => {
    const file = fakeAddon('ok', "exports.info = () => ({ cudaBuild: true, cudaDevices: [{ name: 'NVIDIA H200', computeCapability: '9.0', memoryBytes: 1 }] });\n");
    expect(probeAddon(file)).toMatchObject({ ok: true, reason: '1 device(s) answered (NVIDIA H200, sm 9.0)' });
  });

  it('rejects a CPU-only build and a probe that hangs', () => {
    expect(probeAddon(fakeAddon('cpu', "exports.info = () => ({ cudaBuild: false });\n")).reason).toBe('is not a CUDA build');
    expect(probeAddon(fakeAddon('hang', 'Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);\n'), 2000)).toMatchObject({ ok: false, reason: 'did not answer within 2 s' });
  });

  it('names the per-major CUDA packages by platform', () => {
    expect(cudaPackageName(12, 'linux', 'x64')).toBe('@wan-video/linux-x64-cuda12');
    expect(cudaPackageName(13, 'win32', 'x64')).toBe('@wan-video/win32-x64-cuda13');
  });
});
