import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The reference fixtures: $WAN_FIXTURES, else ../shared/fixtures beside the repository. */
export const fixturesRoot = process.env.WAN_FIXTURES ?? join(repoRoot, '..', 'shared', 'fixtures');

export const haveFixtures = existsSync(join(fixturesRoot, 'cases'));

/** The repository's own reference cases (RIFE, DBCache, Wan2.1 I2V inputs, GGUF blocks). */
export const repoFixturesRoot = join(repoRoot, 'test', 'fixtures');
