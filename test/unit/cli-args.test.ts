// Command-line parsing: --help, API spellings of flags, "did you mean".
import { afterEach, describe, expect, it, vi } from 'vitest';

import { editDistance, parseCommand, suggestFlag } from '../../lib/cli/args.js';
import { GENERATE } from '../../lib/cli/generate.js';
import { INFO } from '../../lib/cli/info.js';

describe('parseCommand', () => {
  afterEach(() => vi.restoreAllMocks());

  it('prints the usage for --help and -h, and parses nothing', () => {
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    expect(parseCommand(GENERATE, ['--model', 'x', '--help'])).toEqual({ help: true });
    expect(parseCommand(INFO, ['-h'])).toEqual({ help: true });
    expect(String(out.mock.calls[0][0])).toMatch(/^usage: wan-video generate /);
    expect(String(out.mock.calls[1][0])).toMatch(/^usage: wan-video info /);
  });

  it('accepts the flag names as the hosted APIs spell the fields', () => {
    const r = parseCommand(GENERATE, [
      '--num_frames', '9', '--negative_prompt', 'blur', '--numInferenceSteps', '4', '--guidance_scale=3', '--positivePrompt', 'a fox',
      '--outputQuality', '30', '--video_write_mode', 'fast', '--NEGATIVE-PROMPT', 'grey', '--textEncoder', 'te',
    ]);
    expect(r.help).toBe(false);
    if (r.help) return;
    // Case, dashes and underscores do not matter: numInferenceSteps is num_inference_steps.
    expect(r.values).toMatchObject({ frames: '9', steps: '4', 'negative-prompt': 'grey', guidance: '3', prompt: 'a fox', quality: '30', 'write-mode': 'fast', 'text-encoder': 'te' });
  });

  it('refuses an unknown flag, suggesting the nearest one', () => {
    expect(() => parseCommand(GENERATE, ['--promt', 'x'])).toThrow(/unknown option --promt for `wan-video generate`; did you mean --prompt\?/);
    expect(() => parseCommand(GENERATE, ['--widht', '64'])).toThrow(/did you mean --width\?/);
    expect(() => parseCommand(GENERATE, ['--video-qualty', 'low'])).toThrow(/unknown option --video-qualty/);
    expect(() => parseCommand(GENERATE, ['--zzzzzzzz'])).toThrow(/^unknown option --zzzzzzzz for `wan-video generate` \(/);
  });

  it('names the flag whose value is missing', () => {
    expect(() => parseCommand(GENERATE, ['--prompt'])).toThrow(/--prompt/);
  });
});

describe('suggestFlag', () => {
  it('measures edits and suggests only near names', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(suggestFlag('gudance', ['guidance', 'steps'])).toBe('guidance');
    expect(suggestFlag('xyz', ['guidance', 'steps'])).toBeUndefined();
  });
});
