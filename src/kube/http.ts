// A GET-only JSON client for the API server over node:https, bounded by an absolute deadline.
import { createRequire } from 'node:module';
import type * as Http from 'node:http';
import type * as Https from 'node:https';
import type * as Tls from 'node:tls';
import type { ApiCredentials } from './kubeconfig.js';

// node:https (tls, crypto) and node:http are loaded on first use, not at start: memory_checker runs
// every monit cycle and most runs on a switch without an API server never make a request; loading
// them up front was a fifth of its start-up (bench/results.md).
const load = createRequire(import.meta.url);
const https = () => load('node:https') as typeof Https;
const http = () => load('node:http') as typeof Http;

export type ApiFailure =
  | { kind: 'timeout' }
  | { kind: 'network'; message: string }
  | { kind: 'http'; status: number; message: string }
  | { kind: 'malformed'; message: string };

export class ApiError extends Error {
  constructor(readonly failure: ApiFailure) {
    super(describeFailure(failure));
    this.name = 'ApiError';
  }
}

export function describeFailure(f: ApiFailure): string {
  switch (f.kind) {
    case 'timeout':
      return 'timed out';
    case 'network':
      return f.message;
    case 'http':
      return `HTTP ${f.status}${f.message ? `: ${f.message}` : ''}`;
    case 'malformed':
      return `malformed response: ${f.message}`;
  }
}

const MAX_BODY = 8 * 1024 * 1024;

/**
 * One TLS context (CA, client certificate and key, parsed once) per credentials object, shared by
 * the connections of every check: the contexts are immutable; the connections stay per check.
 * Building one is most of a check's cost: given a CA, Node first copies its whole root CA store
 * (23 ms of a metrics-path run on the testbed's Node, bench/results.md).
 */
const tlsContexts = new WeakMap<ApiCredentials, Tls.SecureContext>();

function tlsContext(creds: ApiCredentials) {
  let context = tlsContexts.get(creds);
  if (!context) {
    context = (load('node:tls') as typeof Tls).createSecureContext({ ca: creds.ca, cert: creds.cert, key: creds.key });
    tlsContexts.set(creds, context);
  }
  return context;
}

/**
 * The last TLS session per credentials: a check's new connection resumes it (an abbreviated
 * handshake: no certificates sent, signed or verified on either side) instead of a full one. The
 * exporter opens 20 connections a collection; the API server shares the switch's CPU.
 */
const tlsSessions = new WeakMap<ApiCredentials, Buffer>();

/**
 * The kept-alive connections of one check: a check makes two requests (pod list, then metrics), and
 * the second TLS handshake would cost as much as the first. Each check owns its scope and closes it
 * when done, so the process can exit at once and, in the exporter, one check finishing never
 * closes a connection another check in flight is using.
 */
export class ApiConnections {
  private readonly agents = new Map<ApiCredentials, Https.Agent>();

  agentFor(creds: ApiCredentials): Https.Agent {
    let agent = this.agents.get(creds);
    if (!agent) {
      agent = new (https().Agent)({
        keepAlive: true,
        maxSockets: 1,
        secureContext: tlsContext(creds),
        rejectUnauthorized: !creds.insecureSkipTlsVerify,
      });
      this.agents.set(creds, agent);
    }
    return agent;
  }

  close(): void {
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
  }
}

/**
 * The scope of callers that are not checks (the node agent's lean reader): one kept-alive
 * connection per credentials for the life of the process. No check ever closes it; idle sockets
 * of an agent do not keep the process alive.
 */
const longLived = new ApiConnections();

/** The request headers every call to the API server sends: JSON, and the bearer token if any. */
export function apiHeaders(creds: ApiCredentials): Record<string, string> {
  return creds.token ? { Accept: 'application/json', Authorization: `Bearer ${creds.token}` } : { Accept: 'application/json' };
}

/** TLS options for a request of its own (a watch): the shared, once-parsed context of the credentials. */
export function tlsOptions(creds: ApiCredentials): { secureContext: Tls.SecureContext; rejectUnauthorized: boolean } {
  return { secureContext: tlsContext(creds), rejectUnauthorized: !creds.insecureSkipTlsVerify };
}

export function getJson(creds: ApiCredentials, path: string, deadline: number, connections: ApiConnections = longLived): Promise<unknown> {
  const remaining = deadline - Date.now();
  if (remaining <= 0) return Promise.reject(new ApiError({ kind: 'timeout' }));
  const url = new URL(path, `${creds.server}/`);
  const headers = apiHeaders(creds);
  const isHttps = url.protocol === 'https:';
  return new Promise((resolvePromise, reject) => {
    let settled = false;
    const fail = (f: ApiFailure) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      reject(new ApiError(f));
    };
    const session = isHttps ? tlsSessions.get(creds) : undefined;
    const options = {
      method: 'GET',
      headers,
      ...(isHttps ? { agent: connections.agentFor(creds) } : {}),
      ...(session ? { session } : {}),
    };
    const req = (isHttps ? https().request : http().request)(url, options, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY) fail({ kind: 'malformed', message: 'body too large' });
        else chunks.push(c);
      });
      res.on('error', (e) => fail({ kind: 'network', message: e.message }));
      res.on('end', () => {
        if (settled) return;
        const text = Buffer.concat(chunks).toString('utf8');
        const status = res.statusCode ?? 0;
        if (status < 200 || status > 299) {
          let message = '';
          try {
            const body = JSON.parse(text) as { message?: unknown };
            if (typeof body.message === 'string') message = body.message.split('\n')[0]!.slice(0, 200);
          } catch {
            message = '';
          }
          fail({ kind: 'http', status, message });
          return;
        }
        try {
          const body: unknown = JSON.parse(text);
          settled = true;
          clearTimeout(timer);
          resolvePromise(body);
        } catch {
          fail({ kind: 'malformed', message: 'body is not JSON' });
        }
      });
    });
    if (isHttps) req.once('socket', (socket) => socket.on('session', (s: Buffer) => tlsSessions.set(creds, s)));
    const timer = setTimeout(() => fail({ kind: 'timeout' }), remaining);
    req.on('error', (e) => fail({ kind: 'network', message: e.message }));
    req.end();
  });
}
