// Deciding an output before any work: format from the name and from whatever else asked for one,
// settings from the request's own fields, the names of several results.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { planOutputs } from '../../lib/cli/generate.js';
import { normalizeRequest } from '../../lib/schemas/normalize.js';
import { requestedOutput } from '../../lib/schemas/output-fields.js';
import { formatFromPath, preflightOutput, resolveOutput, resultPath } from '../../lib/video/output.js';

const dir = mkdtempSync(join(tmpdir(), 'wan-output-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const requested = (raw: Record<string, unknown>, api: 'auto' | 'fal' | 'runware' | 'canonical' | 'oxen' = 'auto') =>
  requestedOutput(raw, normalizeRequest(raw, { api, randomSeed: () => 0n }));

describe('resolveOutput', () => {
  it('takes the format from the file name', () => {
    expect(formatFromPath('a.mp4')).toBe('mp4');
    expect(formatFromPath('a.WEBM')).toBe('webm');
    expect(formatFromPath('a.mov')).toBe('mov');
    expect(formatFromPath('a.png')).toBe('contact-sheet');
    expect(formatFromPath('frames')).toBe('png');
    expect(() => formatFromPath('x.gif')).toThrow(/--out x\.gif: \.gif is not an output format wan-video writes/);
    expect(() => formatFromPath('x.avi')).toThrow(/\.avi is not an output format/);
  });

  it('refuses a format that contradicts the file name, and an unknown one, by name', () => {
    expect(() => resolveOutput('q.mp4', { format: { value: 'webm', from: '--format' } })).toThrow(/--format webm contradicts --out q\.mp4 \(\.mp4, i\.e\. mp4\)/);
    expect(() => resolveOutput('q.mp4', { format: { value: 'avi', from: '--format' } })).toThrow(/--format avi: not an output format; expected one of mp4, webm, mov, png, contact-sheet/);
    expect(() => resolveOutput('frames', { format: { value: 'mp4', from: 'outputFormat (runware request)' } })).toThrow(/outputFormat \(runware request\) mp4 contradicts --out frames/);
    expect(resolveOutput('q.webm', { format: { value: 'WEBM', from: 'outputFormat (runware request)' } }).format).toBe('webm');
    // "png" names both PNG outputs.
    expect(resolveOutput('sheet.png', { format: { value: 'png', from: '--format' } }).format).toBe('contact-sheet');
    expect(resolveOutput('frames', { format: { value: 'png', from: '--format' } }).format).toBe('png');
  });

  it('keeps quality and write mode for videos, refuses them by name for PNG unless they are defaults', () => {
    expect(resolveOutput('v.mp4', { quality: { value: 30, from: '--quality' }, writeMode: { value: 'small', from: '--write-mode' } })).toEqual({ path: 'v.mp4', format: 'mp4', quality: 30, writeMode: 'small' });
    expect(() => resolveOutput('v.mp4', { quality: { value: 101, from: '--quality' } })).toThrow(/--quality 101: expected an integer from 20 to 99/);
    expect(() => resolveOutput('v.png', { quality: { value: 30, from: '--quality' } })).toThrow(/--quality applies to video files/);
    expect(resolveOutput('v.png', { quality: { value: 85, from: 'video_quality (fal request) (default)' } })).toEqual({ path: 'v.png', format: 'contact-sheet' });
  });

  it('names the files of several results x.mp4, x-1.mp4, ...', () => {
    expect(resultPath('out/x.mp4', 0)).toBe('out/x.mp4');
    expect(resultPath('out/x.mp4', 1)).toBe('out/x-1.mp4');
    expect(resultPath('out/frames', 2)).toBe('out/frames-2');
    expect(resultPath('out/frames/', 1)).toBe('out/frames-1/');
  });
});

describe('requestedOutput: the output fields of every API shape', () => {
  it('fal: video_quality and video_write_mode, with fal\'s defaults when left out', () => {
    expect(requested({ prompt: 'fox', video_quality: 'low', video_write_mode: 'fast' }, 'fal')).toEqual({
      quality: { value: 50, from: 'video_quality (fal request)', written: true },
      writeMode: { value: 'fast', from: 'video_write_mode (fal request)', written: true },
    });
    expect(requested({ prompt: 'fox', video_quality: 'maximum' }, 'fal').quality?.value).toBe(95);
    expect(requested({ prompt: 'fox' }, 'fal')).toMatchObject({ quality: { value: 85, written: false }, writeMode: { value: 'balanced', written: false } });
  });

  it('Runware: outputFormat (only when written) and outputQuality', () => {
    expect(requested({ positivePrompt: 'a fox', duration: 1, outputFormat: 'webm', outputQuality: 20 })).toEqual({
      format: { value: 'webm', from: 'outputFormat (runware request)', written: true },
      quality: { value: 20, from: 'outputQuality (runware request)', written: true },
    });
    expect(requested({ positivePrompt: 'a fox', duration: 1 })).toEqual({ quality: { value: 95, from: 'outputQuality (runware request) (default)', written: false } });
  });

  it('canonical: output.*', () => {
    expect(requested({ prompt: 'fox', output: { format: 'mov', quality: 40 } })).toMatchObject({
      format: { value: 'mov', from: 'output.format (canonical request)', written: true },
      quality: { value: 40, written: true },
    });
    expect(requested({ prompt: 'fox' }).format).toBeUndefined();
  });

  it('--api reads a request of shared fields with that API\'s ranges: fal num_frames is 17..161', () => {
    const raw = { prompt: 'fox', num_frames: 162 };
    expect(normalizeRequest(raw, { randomSeed: () => 0n }).api).toBe('oxen');
    expect(() => normalizeRequest(raw, { api: 'fal', randomSeed: () => 0n })).toThrow(/num_frames = 162 is not allowed: expected an integer from 17 to 161/);
    expect(normalizeRequest({ prompt: 'fox', num_frames: 161 }, { api: 'fal', randomSeed: () => 0n }).request.numFrames).toBe(161);
  });
});

describe('planOutputs and preflightOutput: refused before any work, naming the path', () => {
  it('a missing folder, a path through a file, a folder given as a file', async () => {
    await expect(preflightOutput(resolveOutput(join(dir, 'nope', 'x.png')))).rejects.toThrow(`--out ${join(dir, 'nope', 'x.png')}: the folder ${join(dir, 'nope')} does not exist`);
    const file = join(dir, 'plain-file');
    writeFileSync(file, 'x');
    await expect(preflightOutput(resolveOutput(join(file, 'x.png')))).rejects.toThrow(/is not a folder/);
    mkdirSync(join(dir, 'taken.png'));
    await expect(preflightOutput(resolveOutput(join(dir, 'taken.png')))).rejects.toThrow(/is a folder, not a file/);
    await expect(preflightOutput(resolveOutput(join(dir, 'nope', 'frames')))).rejects.toThrow(/does not exist/);
    await expect(preflightOutput(resolveOutput(file))).rejects.toThrow(/exists and is not a folder/);
  });

  it('leaves nothing behind when the check passes', async () => {
    const target = join(dir, 'fresh.png');
    await preflightOutput(resolveOutput(target));
    const { existsSync } = await import('node:fs');
    expect(existsSync(target)).toBe(false);
  });

  it('a flag and the request that disagree are refused naming both; agreeing ones are fine', async () => {
    const req = requested({ positivePrompt: 'a fox', duration: 1, outputFormat: 'WEBM', outputQuality: 40 });
    await expect(planOutputs([join(dir, 'a.mp4')], {}, req)).rejects.toThrow(/outputFormat \(runware request\) webm contradicts --out .*a\.mp4/);
    await expect(planOutputs([join(dir, 'a.webm')], { quality: '60' }, req)).rejects.toThrow(/--quality 60 contradicts outputQuality \(runware request\) 40/);
    await expect(planOutputs([join(dir, 'a.webm')], { format: 'mp4' }, req)).rejects.toThrow(/--format mp4 contradicts outputFormat \(runware request\) webm/);
    await expect(planOutputs([], {}, {})).rejects.toThrow(/--out FILE is required/);
    await expect(planOutputs([join(dir, 's.png'), join(dir, 's.png')], {}, {})).rejects.toThrow(/given twice/);
    // fal's defaulted video settings do not stop PNG outputs; a written one is refused for them.
    const ok = await planOutputs([join(dir, 's.png'), join(dir, 'frames')], {}, requested({ prompt: 'fox' }, 'fal'));
    expect(ok.map((o) => o.format)).toEqual(['contact-sheet', 'png']);
    await expect(planOutputs([join(dir, 's.png')], {}, requested({ prompt: 'fox', video_quality: 'low' }, 'fal'))).rejects.toThrow(/video_quality \(fal request\) applies to video files/);
  });
});
