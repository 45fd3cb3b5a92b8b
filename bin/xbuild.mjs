#!/usr/bin/env node
// Entry point: everything lives in the bundle built by `npm run build`.
import '../dist/xbuild.mjs';
