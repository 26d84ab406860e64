// A broken ffmpeg (a stand-in script on FFMPEG_PATH that answers -version but then fails) is
// refused before any work, and a writer whose ffmpeg fails rejects instead of hanging.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'wan-fake-ffmpeg-'));
const fake = join(dir, 'ffmpeg');
writeFileSync(
  fake,
  `#!/bin/sh
for a in "$@"; do [ "$a" = "-version" ] && { echo "ffmpeg version fake"; exit 0; }; done
case "$FAKE_FFMPEG" in
  fail-at-end) cat > /dev/null; echo "fake: muxing failed" >&2; exit 1 ;;
  *) echo "fake: Unknown encoder 'libx264'" >&2; exit 1 ;;
esac
`,
);
chmodSync(fake, 0o755);
process.env.FFMPEG_PATH = fake;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const { checkVideoEncoding } = await import('../../lib/video/ffmpeg.js');
const { VideoWriter } = await import('../../lib/video/writer.js');

describe('a broken ffmpeg', () => {
  it('is refused by the up-front check, naming the binary and quoting it', () => {
    delete process.env.FAKE_FFMPEG;
    expect(() => checkVideoEncoding('mp4')).toThrow(new RegExp(`mp4 output: ${fake} \\(FFMPEG_PATH\\) cannot encode libx264 into \\.mp4: fake: Unknown encoder 'libx264'`));
  });

  it('that exits at once makes the writes reject (no hang)', async () => {
    delete process.env.FAKE_FFMPEG;
    const w = VideoWriter.open(join(dir, 'a.mp4'), { format: 'mp4', width: 64, height: 48, fps: 16 });
    const frame = new Uint8Array(64 * 48 * 3);
    const run = (async () => {
      for (let i = 0; i < 500; i++) await w.write(frame);
      await w.close();
    })();
    await expect(run).rejects.toThrow(/writing .*a\.mp4 failed: ffmpeg exited with status 1: fake: Unknown encoder/);
  }, 30_000);

  it('that fails at the end makes close() reject', async () => {
    process.env.FAKE_FFMPEG = 'fail-at-end';
    const w = VideoWriter.open(join(dir, 'b.webm'), { format: 'webm', width: 64, height: 48, fps: 16 });
    await w.write(new Uint8Array(64 * 48 * 3));
    await expect(w.close()).rejects.toThrow(/writing .*b\.webm failed: ffmpeg exited with status 1: fake: muxing failed/);
  }, 30_000);
});
