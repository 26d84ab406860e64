// The server's pure parts: model-id resolution, configuration, result storage names and expiry,
// and each API's error shape.
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { falError, locOf, oxenError, runwareError } from '../../lib/api/errors.js';
import { modelFlag, parseServerConfig, publicUrlOf, readConfigFile } from '../../lib/server/config.js';
import { resolveModelId, servedIds } from '../../lib/server/model-ids.js';
import { Storage } from '../../lib/server/storage.js';

describe('model ids', () => {
  const one = [{ name: 'tiny', variant: 'custom' as const, ids: [] }];
  const two = [
    { name: 'small', variant: 'wan2.1-t2v-1.3b' as const, ids: [] },
    { name: 'big', variant: 'wan2.2-t2v-a14b' as const, ids: ['my-alias'] },
  ];
  it('sends every known id of the three APIs to a single model', () => {
    for (const [api, id] of [['oxen', 'wan-ai-wan2-1-t2v-1-3b-diffusers'], ['fal', 'fal-ai/wan/v2.2-a14b/text-to-video'], ['runware', 'runware:200@6']] as const) {
      expect(resolveModelId(api, id, one)).toEqual({ model: 'tiny' });
    }
    expect(resolveModelId('runware', undefined, one)).toEqual({ model: 'tiny' });
    expect(resolveModelId('oxen', 'kling-video', one)).toMatchObject({ error: expect.stringMatching(/not served here/) });
  });
  it('with several models, by configured id, name, or the id\'s variant', () => {
    expect(resolveModelId('oxen', 'wan-ai-wan2-1-t2v-1-3b-diffusers', two)).toEqual({ model: 'small' });
    expect(resolveModelId('fal', 'fal-ai/wan/v2.2-a14b/text-to-video', two)).toEqual({ model: 'big' });
    expect(resolveModelId('oxen', 'my-alias', two)).toEqual({ model: 'big' });
    expect(resolveModelId('oxen', 'small', two)).toEqual({ model: 'small' });
    expect(resolveModelId('fal', 'fal-ai/wan/v2.2-5b/text-to-video', two)).toMatchObject({ error: expect.any(String) });
    expect(resolveModelId('runware', undefined, two)).toMatchObject({ error: expect.stringMatching(/model id is required/) });
    expect(servedIds('oxen', two)).toEqual(expect.arrayContaining(['small', 'big', 'my-alias', 'wan-ai-wan2-1-t2v-1-3b-diffusers', 'wan-ai-wan2-2-t2v-a14b-diffusers']));
  });
});

describe('configuration', () => {
  it('applies defaults and names the field of a wrong value', () => {
    const c = parseServerConfig({});
    expect(c).toMatchObject({ port: 8000, queue: 'wan-video-queue.sqlite', workers: 1, auth: { disabled: false }, fetch: { allowLoopback: false, allowPrivate: false } });
    expect(() => parseServerConfig({ limits: { bodyBytes: 'x' } })).toThrow(/limits\.bodyBytes/);
    expect(() => parseServerConfig({ bogus: 1 })).toThrow(/bogus/);
    expect(modelFlag('wan=/m/Wan2.1')).toEqual(['wan', { path: '/m/Wan2.1' }]);
    expect(modelFlag('/m/Wan2.1-T2V-1.3B-Diffusers')[0]).toBe('Wan2.1-T2V-1.3B-Diffusers');
    expect(publicUrlOf(parseServerConfig({ host: '0.0.0.0', port: 9 }))).toBe('http://127.0.0.1:9');
  });
  it('resolves a config file\'s model paths (folder, LoRAs, interpolator, image encoder) against the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wan-srv-config-'));
    const file = join(dir, 'server.json');
    writeFileSync(file, JSON.stringify({ models: { m: { path: 'models/w', fastLoras: { high: 'l/h.safetensors', low: '/abs/l.safetensors' }, interpolator: 'rife/f.safetensors', imageEncoder: 'clip.safetensors' } } }));
    const c = parseServerConfig(readConfigFile(file));
    expect(c.models.m).toEqual({ path: join(dir, 'models/w'), ids: [], fastLoras: { high: join(dir, 'l/h.safetensors'), low: '/abs/l.safetensors' }, interpolator: join(dir, 'rife/f.safetensors'), imageEncoder: join(dir, 'clip.safetensors') });
    expect(() => parseServerConfig({ models: { m: { path: '/m', interpolator: '' } } })).toThrow(/models\.m\.interpolator/);
  });
});

describe('storage', () => {
  it('serves a published file until its time to live passes, and sweeps it after', async () => {
    const s = new Storage(mkdtempSync(join(tmpdir(), 'wan-store-')));
    const p = s.place('job-1', 0, 'mp4', 60);
    writeFileSync(p.temp, 'video');
    // Not published yet: nothing is under the served name.
    expect(existsSync(p.file)).toBe(false);
    await s.publish(p);
    expect(s.resolve(p.name)).toEqual({ file: p.file, contentType: 'video/mp4' });
    expect(s.resolve('../etc/passwd')).toBeNull();
    expect(s.resolve(`.tmp-1-a-${p.name}`)).toBeNull();
    // A rerun of the same result replaces the earlier file.
    const again = s.place('job-1', 0, 'mp4', 120);
    writeFileSync(again.temp, 'video2');
    await s.publish(again);
    expect(readdirSync(s.dir)).toEqual([again.name]);
    expect(await s.sweep(Date.now() + 121_000)).toBe(1);
    expect(readdirSync(s.dir)).toEqual([]);
  });
});

describe('error shapes', () => {
  const invalid = { status: 400, code: 'E_INVALID_ARGUMENT', message: 'Invalid fal request: loras[0].scale = 9 is not allowed', field: 'loras[0].scale', issues: [{ field: 'loras[0].scale', message: 'loras[0].scale = 9 is not allowed: expected a number from -4 to 4', kind: 'invalid' }] };
  it('fal: 422 with FastAPI-style detail locations', () => {
    expect(locOf('inputs.frameImages[1].image')).toEqual(['inputs', 'frameImages', 1, 'image']);
    expect(falError(invalid)).toEqual({ status: 422, body: { detail: [{ loc: ['body', 'loras', 0, 'scale'], msg: invalid.issues[0].message, type: 'value_error' }] } });
    expect(falError({ status: 404, code: 'E_NOT_FOUND', message: 'no' })).toEqual({ status: 404, body: { detail: 'no' } });
  });
  it('Runware: an errors entry with the parameter and the task', () => {
    expect(runwareError(invalid, { taskType: 'videoInference', taskUUID: 'u' })).toEqual({ code: 'invalidParameter', message: invalid.message, parameter: 'loras[0].scale', taskType: 'videoInference', taskUUID: 'u' });
    expect(runwareError({ status: 500, code: 'E_NATIVE', message: 'internal error' })).toEqual({ code: 'internalError', message: 'internal error' });
  });
  it('Oxen: {status: "error", error: {type, field}}', () => {
    expect(oxenError(invalid)).toMatchObject({ status: 400, body: { status: 'error', status_message: 'bad_request', error: { type: 'bad_request', field: 'loras[0].scale' } } });
    expect(oxenError({ status: 404, code: 'E_NOT_FOUND', message: 'x' }).body).toMatchObject({ error: { type: 'resource_not_found', title: 'The requested resource could not be found' } });
  });
});

describe('OpenAPI document', () => {
  it('is generated from the request schemas', async () => {
    const { openApiDocument } = await import('../../lib/server/openapi.js');
    const doc = openApiDocument('http://h') as { openapi: string; paths: Record<string, any> };
    expect(doc.openapi).toBe('3.1.0');
    const fal = doc.paths['/{owner}/{app}/{path}'].post.requestBody.content['application/json'].schema.oneOf[0];
    expect(fal.properties.num_frames).toMatchObject({ type: 'integer', minimum: 17, maximum: 161, default: 81 });
    const runware = doc.paths['/v1'].post.requestBody.content['application/json'].schema.items.oneOf[0].allOf[0];
    expect(runware.required).toEqual(expect.arrayContaining(['positivePrompt', 'duration']));
    const oxen = doc.paths['/api/ai/queue'].post.requestBody.content['application/json'].schema.allOf[0];
    expect(Object.keys(oxen.properties)).toEqual(expect.arrayContaining(['prompt', 'num_frames', 'run_fast']));
    expect(JSON.stringify(doc)).not.toMatch(/undefined/);
  });
});
