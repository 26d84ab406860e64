// Where results live: one folder (shared by the server and its workers), each file named with the
// time after which it is no longer served, so expiry needs no database: the server refuses an
// expired name and a sweep deletes it.
import { mkdirSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';

const NAME = /^(\d{13})_([A-Za-z0-9-]{1,64})_(\d{1,3})\.(mp4|webm|mov|png)$/;

export const CONTENT_TYPES: Record<string, string> = { mp4: 'video/mp4', webm: 'video/webm', mov: 'video/quicktime', png: 'image/png' };

export class Storage {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = resolve(dir);
    mkdirSync(this.dir, { recursive: true });
  }

  /** The name and path of a job's result file. */
  place(jobId: string, index: number, ext: string, ttlSeconds: number): { name: string; file: string; expiresAt: number } {
    const expiresAt = Date.now() + ttlSeconds * 1000;
    const name = `${String(expiresAt).padStart(13, '0')}_${jobId}_${index}.${ext}`;
    return { name, file: join(this.dir, name), expiresAt };
  }

  /** The path of a name that may be served now, or null (unknown shape or expired). */
  resolve(name: string): { file: string; contentType: string } | null {
    const m = NAME.exec(name);
    if (!m || Number(m[1]) < Date.now()) return null;
    return { file: join(this.dir, name), contentType: CONTENT_TYPES[m[4]] };
  }

  /** Deletes expired files (and their partial .tmp companions); returns how many went. */
  async sweep(now = Date.now()): Promise<number> {
    let n = 0;
    for (const name of await readdir(this.dir).catch(() => [] as string[])) {
      const m = /^(\d{13})_/.exec(name);
      if (m && Number(m[1]) < now) {
        await rm(join(this.dir, name), { force: true });
        n++;
      }
    }
    return n;
  }
}
