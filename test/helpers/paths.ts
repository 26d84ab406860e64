import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The reference fixtures: $WAN_FIXTURES, else ../shared/fixtures beside the repository. */
export const fixturesRoot = process.env.WAN_FIXTURES ?? join(repoRoot, '..', 'shared', 'fixtures');

export const haveFixtures = existsSync(join(fixturesRoot, 'cases'));
