// Every test run writes its temporary files under one folder of its own, removed when the run ends
// (pass or fail): TMPDIR points there for the test workers and the processes they start, so each
// mkdtemp(tmpdir()) in a test lands inside it. WAN_KEEP_TMP=1 keeps it for a look afterwards.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'wan-video-test-run-'));
  const previous = process.env.TMPDIR;
  process.env.TMPDIR = dir;
  return () => {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    if (process.env.WAN_KEEP_TMP === '1') console.log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  };
}
