// The CommonJS entry, `require('wan-video')`: the ES module itself, loaded through require(esm),
// which Node 20.19+ and 22.12+ do synchronously for a module graph without top-level await (this
// one has none). Older Node versions get a message that says what to do instead.
type WanVideo = typeof import('./index.js');

function load(): WanVideo {
  try {
    return require('./index.js') as WanVideo;
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_REQUIRE_ESM') {
      throw new Error(`require('wan-video') needs Node 20.19+ or 22.12+ (this is ${process.version}); use import('wan-video') instead`, { cause: err });
    }
    throw err;
  }
}

export = load();
