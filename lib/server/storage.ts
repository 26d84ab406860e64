// Where results live: one folder (shared by the server and its workers), each file named with the
// time after which it is no longer served, so expiry needs no database: the server refuses an
// expired name and a sweep deletes it.
import { mkdirSync } from 'node:fs';
import { readdir, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';

const NAME = /^(\d{13})_([A-Za-z0-9-]{1,64})_(\d{1,3})\.(mp4|webm|mov|png)$/;

export const CONTENT_TYPES: Record<string, string> = { mp4: 'video/mp4', webm: 'video/webm', mov: 'video/quicktime', png: 'image/png' };

export class Storage {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = resolve(dir);
    mkdirSync(this.dir, { recursive: true });
  }

  /**
   * Where a job's result is written (`temp`, never served) and the name it is published under once
   * complete (publish() renames it, so a file is served whole or not at all).
   */
  place(jobId: string, index: number, ext: string, ttlSeconds: number): { name: string; file: string; temp: string; expiresAt: number } {
    const expiresAt = Date.now() + ttlSeconds * 1000;
    const name = `${String(expiresAt).padStart(13, '0')}_${jobId}_${index}.${ext}`;
    return { name, file: join(this.dir, name), temp: join(this.dir, `.tmp-${process.pid}-${Math.random().toString(36).slice(2)}-${name}`), expiresAt };
  }

  /** Moves a finished file to its served name; an earlier run's file for the same result is removed. */
  async publish(p: { name: string; file: string; temp: string }): Promise<void> {
    const suffix = p.name.slice(p.name.indexOf('_'));
    for (const old of await readdir(this.dir).catch(() => [] as string[])) {
      if (old !== p.name && NAME.test(old) && old.slice(old.indexOf('_')) === suffix) await rm(join(this.dir, old), { force: true });
    }
    await rename(p.temp, p.file);
  }

  /** The path of a name that may be served now, or null (unknown shape or expired). */
  resolve(name: string): { file: string; contentType: string } | null {
    const m = NAME.exec(name);
    if (!m || Number(m[1]) < Date.now()) return null;
    return { file: join(this.dir, name), contentType: CONTENT_TYPES[m[4]] };
  }

  /** Deletes expired files, and partial ones a dead worker left (a day old); returns how many went. */
  async sweep(now = Date.now()): Promise<number> {
    let n = 0;
    for (const name of await readdir(this.dir).catch(() => [] as string[])) {
      const m = /^(?:\.tmp-\w+-\w+-)?(\d{13})_/.exec(name);
      const stale = name.startsWith('.tmp-') ? (await stat(join(this.dir, name)).catch(() => null))?.mtimeMs ?? now : 0;
      if ((m && !name.startsWith('.tmp-') && Number(m[1]) < now) || (name.startsWith('.tmp-') && stale < now - 24 * 3600_000)) {
        await rm(join(this.dir, name), { force: true });
        n++;
      }
    }
    return n;
  }
}
