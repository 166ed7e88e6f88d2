// TLS sessions kept across processes. memory_checker is a new process every monit cycle: each run
// would make a full handshake with the API server (certificates sent, signed and checked on both
// sides); resuming the last run's session skips that, 2.4 ms a run measured on the testbed
// (bench/results.md). Only root keeps them, only where root alone can write (util/root-only.ts),
// one file per server and credential (0600: a session is as secret as the key it stands for), and
// only sessions of connections whose server was accepted are ever written: a session read back is
// taken as accepted, as getJson takes one from memory.
import { createRequire } from 'node:module';
import type * as Crypto from 'node:crypto';
import { join } from 'node:path';
import { readRootOnly, replaceFile, rootOnlyDir } from '../util/root-only.js';
import type { ApiCredentials } from './kubeconfig.js';

export interface TlsSessionStore {
  load(creds: ApiCredentials): Buffer | undefined;
  save(creds: ApiCredentials, session: Buffer): void;
}

// node:crypto comes with node:tls, which only a run that asks the API server loads.
const load = createRequire(import.meta.url);

/** One file per server and credential: a changed token, key or CA starts with a full handshake. */
export function sessionFileName(creds: ApiCredentials): string {
  const hash = (load('node:crypto') as typeof Crypto).createHash('sha256');
  for (const part of [creds.server, creds.token ?? '', creds.cert ?? '', creds.key ?? '', creds.ca ?? ''])
    hash.update(`${part.length}:`).update(part);
  return `session-${hash.digest('hex').slice(0, 32)}`;
}

/**
 * Sessions under `dir` (made 0700 if missing), for a root process in a directory root's alone;
 * undefined otherwise: the process keeps its sessions in memory only.
 */
export function fileSessionStore(dir: string | undefined, euid: number): TlsSessionStore | undefined {
  if (dir === undefined || euid !== 0) return undefined;
  let usable: boolean | undefined;
  const ready = () => {
    usable ??= rootOnlyDir(dir, 0o700);
    return usable;
  };
  return {
    load: (creds) => (ready() ? readRootOnly(join(dir, sessionFileName(creds))) : undefined),
    save: (creds, session) => {
      if (!ready()) return;
      try {
        replaceFile(dir, sessionFileName(creds), session, 0o600);
      } catch {
        // A full /run: the next run makes a full handshake, as it would without the store.
      }
    },
  };
}
