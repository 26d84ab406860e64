// The video writer against the real ffmpeg: a write into a folder that does not exist rejects
// (it used to wait forever for .mp4 and die of EPIPE for .webm), and a long stream under
// backpressure adds no listener per wait (it used to warn MaxListenersExceededWarning).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { checkVideoEncoding } from '../../lib/video/ffmpeg.js';
import { VideoWriter } from '../../lib/video/writer.js';

const dir = mkdtempSync(join(tmpdir(), 'wan-writer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('VideoWriter with ffmpeg', () => {
  for (const format of ['mp4', 'webm', 'mov'] as const) {
    it(`${format}: writing into a missing folder rejects, naming the file and quoting ffmpeg`, async () => {
      const file = join(dir, 'missing', `x.${format}`);
      const w = VideoWriter.open(file, { format, width: 64, height: 48, fps: 16 });
      const frame = new Uint8Array(64 * 48 * 3).fill(100);
      const written = (async () => {
        for (let i = 0; i < 200; i++) await w.write(frame);
        await w.close();
      })();
      await expect(written).rejects.toThrow(new RegExp(`writing ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} failed: ffmpeg exited with status \\d+: .*(No such file|Error opening)`, 's'));
    }, 60_000);
  }

  it('streams many frames under backpressure without piling up listeners', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const file = join(dir, 'long.mp4');
      const w = VideoWriter.open(file, { format: 'mp4', width: 320, height: 240, fps: 16, writeMode: 'fast' });
      const frame = new Uint8Array(320 * 240 * 3);
      for (let i = 0; i < 120; i++) {
        frame.fill(i * 2);
        await w.write(frame);
      }
      await w.close();
      expect(existsSync(file)).toBe(true);
      await new Promise((r) => setTimeout(r, 50));
      expect(warnings).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
    }
  }, 120_000);

  it('checks up front that ffmpeg encodes each format', () => {
    for (const f of ['mp4', 'webm', 'mov'] as const) expect(checkVideoEncoding(f).path).toMatch(/ffmpeg/);
  });
});
