// Credentials for the API server without @kubernetes/client-node: memory_checker runs every monit
// cycle, and client-node costs far more to load than the whole check (see bench/).
import { readFileSync, existsSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { isObj, type Obj } from '../util/json.js';
import { ExitError } from '../util/errors.js';
import { IN_CLUSTER_DIR, SWITCH_KUBECONFIGS } from '../sonic/paths.js';
import type { ApiSources } from '../settings.js';

/** Exit code of a kubesonic tool that refuses its credentials: sysexits.h EX_CONFIG. */
export const EXIT_UNSAFE_CREDENTIALS = 78;

/** A credential file that others on the switch can read or change: refused, never used. */
export class UnsafeCredentials extends ExitError {
  constructor(message: string) {
    super(message, EXIT_UNSAFE_CREDENTIALS);
    this.name = 'UnsafeCredentials';
  }
}

/**
 * Refuse a credential file with any group or other permission bit (mode & 0o077), as ssh refuses
 * a private key: /etc/sonic is partly world-readable, carried across images and gathered by
 * `show techsupport`, and a kubeconfig others can write could point root's tools at another
 * server. Checked on the mode itself, not by trying to read as someone else: root (every tool
 * here) is never refused by the kernel.
 */
export function assertPrivate(path: string): void {
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0)
    throw new UnsafeCredentials(
      `${path}: mode ${mode.toString(8).padStart(4, '0')} lets group or others read or change it; refusing it (chmod 600 ${path})`,
    );
}

export interface ApiCredentials {
  server: string;
  ca?: Buffer | undefined;
  cert?: Buffer | undefined;
  key?: Buffer | undefined;
  token?: string | undefined;
  insecureSkipTlsVerify?: boolean;
  /** Where the credentials came from, for --json and error messages. */
  origin: string;
}

function named(list: unknown, name: string | undefined, key: string): Obj | undefined {
  if (!Array.isArray(list)) return undefined;
  const entry = list.find((e) => isObj(e) && (name === undefined || e.name === name));
  return isObj(entry) && isObj(entry[key]) ? (entry[key] as Obj) : undefined;
}

function dataOrFile(obj: Obj, dataKey: string, fileKey: string, base: string, secret = false): Buffer | undefined {
  const data = obj[dataKey];
  if (typeof data === 'string' && data) return Buffer.from(data, 'base64');
  const file = obj[fileKey];
  if (typeof file !== 'string' || !file) return undefined;
  const path = isAbsolute(file) ? file : resolve(base, file);
  // A client key or token file is as secret as the kubeconfig; certificates and CAs are public.
  if (secret) assertPrivate(path);
  return readFileSync(path);
}

/**
 * Parse a kubeconfig's current context. Throws with a one-line message on anything unusable.
 * js-yaml is two thirds of memory_checker's bundle: it is loaded only when a kubeconfig is read,
 * not on every start (most runs on a switch without an API server read none).
 */
export async function credentialsFromKubeconfig(text: string, path: string): Promise<ApiCredentials> {
  const { load: loadYaml } = await import('js-yaml');
  const doc = loadYaml(text);
  if (!isObj(doc)) throw new Error(`${path}: not a kubeconfig`);
  const base = dirname(path);
  const current = typeof doc['current-context'] === 'string' ? (doc['current-context'] as string) : undefined;
  const context = named(doc.contexts, current, 'context') ?? {};
  const cluster = named(doc.clusters, typeof context.cluster === 'string' ? context.cluster : undefined, 'cluster');
  const user = named(doc.users, typeof context.user === 'string' ? context.user : undefined, 'user') ?? {};
  if (!cluster || typeof cluster.server !== 'string') throw new Error(`${path}: no cluster server in the current context`);
  const tokenFile = typeof user.tokenFile === 'string' && user.tokenFile ? resolve(base, user.tokenFile) : undefined;
  if (typeof user.token !== 'string' && tokenFile) assertPrivate(tokenFile);
  return {
    server: cluster.server.replace(/\/+$/, ''),
    ca: dataOrFile(cluster, 'certificate-authority-data', 'certificate-authority', base),
    cert: dataOrFile(user, 'client-certificate-data', 'client-certificate', base),
    key: dataOrFile(user, 'client-key-data', 'client-key', base, true),
    token: typeof user.token === 'string' ? user.token : tokenFile ? readFileSync(tokenFile, 'utf8').trim() : undefined,
    insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] === true,
    origin: path,
  };
}

/**
 * Parsed credentials by where they came from, reused while the source text is unchanged and for
 * at most CREDENTIALS_TTL_MS (a referenced client certificate the kubelet rotates is re-read by
 * then). The exporter checks 20 features a second: without this, each check would parse the YAML,
 * read the key files and build a new TLS context (see ApiConnections).
 */
const CREDENTIALS_TTL_MS = 10_000;
const parsed = new Map<string, { text: string; at: number; creds: ApiCredentials }>();

async function memo(key: string, text: string, parse: () => Promise<ApiCredentials>): Promise<ApiCredentials> {
  const hit = parsed.get(key);
  if (hit && hit.text === text && Date.now() - hit.at < CREDENTIALS_TTL_MS) return hit.creds;
  const creds = await parse();
  parsed.set(key, { text, at: Date.now(), creds });
  return creds;
}

/**
 * --kubeconfig, else in-cluster, else $KUBECONFIG, else the switch's kubeconfigs (kubesonic's own,
 * then the kubelet's; never SONiC's admin kubeconfig). The first file that exists is the
 * credential: one others can read is refused (UnsafeCredentials), never passed over for the next.
 */
export async function loadCredentials(explicit: string | undefined, api: ApiSources): Promise<ApiCredentials | undefined> {
  const paths: string[] = [];
  if (explicit) paths.push(explicit);
  else {
    if (api.inCluster && existsSync(`${IN_CLUSTER_DIR}/token`)) {
      const { host, port } = api.inCluster;
      const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
      const ca = existsSync(`${IN_CLUSTER_DIR}/ca.crt`) ? readFileSync(`${IN_CLUSTER_DIR}/ca.crt`) : undefined;
      const token = readFileSync(`${IN_CLUSTER_DIR}/token`, 'utf8').trim();
      return memo('in-cluster', `${server}\n${token}\n${ca?.toString('base64') ?? ''}`, async () => ({
        server,
        ca,
        token,
        origin: 'in-cluster',
      }));
    }
    paths.push(...api.kubeconfigs);
    paths.push(...SWITCH_KUBECONFIGS);
  }
  for (const path of paths) {
    if (!existsSync(path)) {
      if (path === explicit) throw new Error(`kubeconfig ${path} does not exist`);
      continue;
    }
    assertPrivate(path);
    const text = readFileSync(path, 'utf8');
    return memo(path, text, () => credentialsFromKubeconfig(text, path));
  }
  return undefined;
}
