// /usr/bin/memory_checker: runs the bundle beside it (memory_checker.main.cjs) compiled with V8's
// code cache (util/code-cache.ts), a tenth of each run on the metrics path (bench/results.md). Built
// by scripts/bundle.mjs with the bundle's SHA-256; nothing else is loaded before the bundle.
import { join } from 'node:path';
import { EXIT } from '../memory/exit-codes.js';
import { CODE_CACHE_DIR } from '../sonic/paths.js';
import { runWithCodeCache } from '../util/code-cache.js';
import { errorLine } from '../util/errors.js';

declare const __KUBESONIC_MAIN_SHA256__: string;

try {
  runWithCodeCache({
    // This file's own directory (Node resolves /usr/bin/memory_checker's link for a main module).
    main: join(__dirname, 'memory_checker.main.cjs'),
    sha256: __KUBESONIC_MAIN_SHA256__,
    cacheDir: CODE_CACHE_DIR,
    euid: process.geteuid?.() ?? -1,
    node: process.version,
    arch: process.arch,
  });
} catch (e) {
  // The bundle missing or unreadable: one line and exit 1, as any other failure of the checker.
  process.stderr.write(`memory_checker: ${errorLine(e)}\n`);
  process.exitCode = EXIT.INTERNAL_ERROR;
}
