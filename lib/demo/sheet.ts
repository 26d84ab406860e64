// The demo's picture of one generation: the denoising trajectory (the initial noise and the model's
// predictions of the finished first frame at chosen steps, decoded by the VAE), frames of the
// video, and a bar per step with its time, its expert and what the step cache decided, all
// labelled, so that what ran is visible at a glance.
import type { TrajectoryPreview } from '../pipeline/previews.js';
import { Canvas, type Rgb } from './canvas.js';

export interface SheetStep {
  index: number;
  total: number;
  timestep: number;
  expert: 'high-noise' | 'low-noise';
  forwards: number;
  computed: number;
  ms: number;
}

export interface DemoSheetInput {
  /** Lines above everything; the first is drawn as a warning. */
  title: string[];
  previews: TrajectoryPreview[];
  steps: SheetStep[];
  frames: Uint8Array[];
  width: number;
  height: number;
  fps: number;
  /** Lines under everything. */
  footer: string[];
  /** Whether to tell the two experts apart (Wan2.2 A14B). */
  twoExperts: boolean;
}

const BG: Rgb = [24, 24, 28];
const TEXT: Rgb = [230, 230, 230];
const DIM: Rgb = [150, 150, 160];
const WARN: Rgb = [255, 196, 64];
const HIGH: Rgb = [86, 156, 255];
const LOW: Rgb = [255, 140, 70];
const CACHED: Rgb = [110, 110, 120];

const S = 2; // font scale
const LINE = Canvas.lineHeight(S);
const M = 16; // margin
const GAP = 12;

/** Evenly spread indices: n of 0..count-1, first and last included. */
export function spread(count: number, n: number): number[] {
  if (count <= n) return Array.from({ length: count }, (_, i) => i);
  return Array.from({ length: n }, (_, i) => Math.round((i * (count - 1)) / (n - 1)));
}

export function demoSheet(input: DemoSheetInput): { rgb: Uint8Array; width: number; height: number } {
  const { width: fw, height: fh } = input;
  const columns = Math.max(input.previews.length, 5);
  const cellW = fw;
  const W = Math.max(M * 2 + columns * cellW + (columns - 1) * GAP, M * 2 + Canvas.textWidth(' '.repeat(100), S));
  const textW = W - 2 * M;
  const wrap = (t: string) => Canvas.wrap(t, textW, S);
  const title = input.title.map(wrap);
  const trajectoryHead = wrap('Denoising trajectory, first frame: the noise the loop starts from, then what the model predicts the finished frame is at that step (x0 = x_t - sigma * v), decoded by the VAE');
  const picks = spread(input.frames.length, columns);
  const videoHead = wrap(`The video: ${input.frames.length} frames at ${input.fps} fps, ${input.width}x${input.height} (${picks.length} shown)`);
  const total = input.steps.reduce((n, s) => n + s.ms, 0);
  const stepsHead = wrap(
    `Every step: its time (${(total / 1000).toFixed(2)} s in all) and transformer calls computed/made; ` +
      `${input.twoExperts ? 'blue: high-noise expert, orange: low-noise expert, ' : ''}grey: calls the step cache served`,
  );
  const footer = input.footer.flatMap(wrap);
  const chartH = 150;
  const H =
    M + title.flat().length * LINE + GAP +
    trajectoryHead.length * LINE + fh + 2 * LINE + GAP * 2 +
    videoHead.length * LINE + fh + LINE + GAP * 2 +
    stepsHead.length * LINE + LINE + chartH + 2 * LINE + GAP * 2 +
    footer.length * LINE + M;
  const c = new Canvas(W, H, BG);
  let y = M;
  const lines = (ls: string[], color: Rgb) => {
    for (const l of ls) {
      c.text(M, y, l, color, S);
      y += LINE;
    }
  };
  title.forEach((ls, i) => lines(ls, i === 0 ? WARN : TEXT));
  y += GAP;

  // The trajectory.
  lines(trajectoryHead, TEXT);
  const byStep = new Map(input.steps.map((s) => [s.index, s]));
  input.previews.forEach((p, i) => {
    const x = M + i * (cellW + GAP);
    c.image(p.frame, p.width, p.height, x, y, cellW, fh);
    const s = byStep.get(p.step);
    const label = p.kind === 'noise' ? 'start: noise' : `step ${p.step + 1}/${s?.total ?? '?'}: x0`;
    const detail = p.kind === 'noise' ? 'seeded, decoded as is' : s ? `t=${Math.round(s.timestep)}${input.twoExperts ? ` ${s.expert}` : ''}` : '';
    c.text(x, y + fh + 4, Canvas.fit(label, cellW, S), TEXT, S);
    c.text(x, y + fh + 4 + LINE, Canvas.fit(detail, cellW, S), DIM, S);
  });
  y += fh + 2 * LINE + GAP * 2;

  // The video.
  lines(videoHead, TEXT);
  picks.forEach((f, i) => {
    const x = M + i * (cellW + GAP);
    c.image(input.frames[f], fw, fh, x, y, cellW, fh);
    c.text(x, y + fh + 4, `frame ${f + 1}`, DIM, S);
  });
  y += fh + LINE + GAP * 2;

  // One bar per step: time, expert, computed vs cached transformer calls.
  lines(stepsHead, TEXT);
  const n = input.steps.length;
  const slot = n ? Math.min(96, Math.floor(textW / n)) : 0;
  const barW = Math.max(4, slot - 8);
  const maxMs = Math.max(1, ...input.steps.map((s) => s.ms));
  const top = y + LINE;
  input.steps.forEach((s, i) => {
    const x = M + i * slot;
    const h = Math.max(2, Math.round((s.ms / maxMs) * chartH));
    const base = top + chartH;
    const computedH = s.forwards ? Math.round((h * s.computed) / s.forwards) : h;
    c.fill(x, base - h, barW, h - computedH, CACHED);
    c.fill(x, base - computedH, barW, computedH, s.expert === 'low-noise' ? LOW : HIGH);
    const ms = s.ms >= 1000 ? `${(s.ms / 1000).toFixed(1)}s` : `${Math.round(s.ms)}ms`;
    if (Canvas.textWidth(ms, S) <= slot) c.text(x, base - h - LINE, ms, DIM, S);
    c.text(x, base + 4, String(i + 1), TEXT, S);
    const calls = `${s.computed}/${s.forwards}`;
    if (Canvas.textWidth(calls, S) <= slot) c.text(x, base + 4 + LINE, calls, DIM, S);
  });
  y = top + chartH + 2 * LINE + GAP * 2;

  lines(footer, DIM);
  return { rgb: c.rgb, width: W, height: H };
}
