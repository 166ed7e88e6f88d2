// A GET-only JSON client for the API server over node:https, bounded by an absolute deadline.
import { createRequire } from 'node:module';
import type * as Http from 'node:http';
import type * as Https from 'node:https';
import type { Duplex } from 'node:stream';
import type * as Tls from 'node:tls';
import type { ApiCredentials } from './kubeconfig.js';
import { anchorsOf, fastServerCheck } from './tls-verify.js';
import type { TlsSessionStore } from './tls-sessions.js';

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
 * This one gives the CA to OpenSSL, which verifies the server: the watches use it, and getJson
 * when the fast check below cannot decide. Building it costs a process 21 ms (Node 18/20 build
 * their whole root store on the first CA added, bench/results.md).
 */
const tlsContexts = new WeakMap<ApiCredentials, Tls.SecureContext>();

/**
 * getJson's context when the credentials have a CA: the client certificate and key only (`ca: []`
 * keeps OpenSSL's store empty and costs 1 ms). Nothing is sent on a connection made with it before
 * fastServerCheck (tls-verify.ts) has accepted the server's certificate against the CA's
 * certificates here; when it cannot, the connection is made again with tlsContext (OpenSSL).
 */
const fastContexts = new WeakMap<ApiCredentials, { context: Tls.SecureContext; anchors: ReturnType<typeof anchorsOf> }>();

function fastContext(creds: ApiCredentials, ca: Buffer) {
  let fast = fastContexts.get(creds);
  if (!fast) {
    const context = (load('node:tls') as typeof Tls).createSecureContext({ ca: [], cert: creds.cert, key: creds.key });
    fast = { context, anchors: anchorsOf(ca) };
    fastContexts.set(creds, fast);
  }
  return fast;
}

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

/** Sessions of connections whose server was accepted (fast check or OpenSSL): the only ones resumed without a check. */
const acceptedSessions = new WeakSet<Buffer>();

/** Sockets whose new sessions are already recorded. */
const sessionHeard = new WeakSet<object>();

/**
 * The sessions of an accepted connection become the next connection's: in memory, and in the
 * scope's store when the connection made a full handshake (a resumed one's session is already
 * there). Listened to once per socket.
 */
function recordSessions(socket: Tls.TLSSocket, creds: ApiCredentials, store: TlsSessionStore | undefined): void {
  if (sessionHeard.has(socket)) return;
  sessionHeard.add(socket);
  socket.on('session', (session: Buffer) => {
    acceptedSessions.add(session);
    tlsSessions.set(creds, session);
    if (!socket.isSessionReused()) store?.save(creds, session);
  });
}

/**
 * The kept-alive connections of one check: a check makes up to two requests (metrics, pod list),
 * and a second TLS handshake would cost as much as the first. Each check owns its scope and closes it
 * when done, so the process can exit at once and, in the exporter, one check finishing never
 * closes a connection another check in flight is using.
 */
export class ApiConnections {
  /** Requests sent through this scope (memory_checker's --json says how many a check made). */
  requests = 0;
  /** Connections of this scope that resumed an earlier session (memory_checker's --json). */
  resumed = 0;
  private readonly agents = new Map<ApiCredentials, Https.Agent>();
  /** Connections still being verified: not the agent's yet, closed with the scope all the same. */
  private readonly pending = new Set<Tls.TLSSocket>();

  /** `sessions`: where sessions outlive the process (memory_checker's, root only); none: memory only. */
  constructor(readonly sessions?: TlsSessionStore) {}

  /** The session a new connection offers: this process's last, else the store's (kept in memory once read). */
  sessionFor(creds: ApiCredentials): Buffer | undefined {
    const known = tlsSessions.get(creds);
    if (known || !this.sessions) return known;
    const stored = this.sessions.load(creds);
    if (stored) {
      // Written only from accepted connections, in a place root alone can write.
      acceptedSessions.add(stored);
      tlsSessions.set(creds, stored);
    }
    return stored;
  }

  agentFor(creds: ApiCredentials): Https.Agent {
    let agent = this.agents.get(creds);
    if (!agent) {
      const { ca } = creds;
      const checkable = ca !== undefined && !creds.insecureSkipTlsVerify;
      // Not tlsContext(creds) for a checkable server: building it is the cost the fast check avoids.
      agent = new (https().Agent)({
        keepAlive: true,
        maxSockets: 1,
        ...(checkable ? {} : { secureContext: tlsContext(creds) }),
        rejectUnauthorized: !creds.insecureSkipTlsVerify,
      });
      if (checkable) this.verifyServerFirst(agent, creds, ca);
      this.agents.set(creds, agent);
    }
    return agent;
  }

  /**
   * The agent's connections use the fast context and are handed to a request (which then writes)
   * only once fastServerCheck has accepted the server; otherwise the connection is made again as
   * Node makes it, with OpenSSL verifying against the CA (its errors are the request's).
   */
  private verifyServerFirst(agent: Https.Agent, creds: ApiCredentials, ca: Buffer): void {
    type Done = (err: Error | null, socket?: Duplex) => void;
    type Create = (options: Tls.ConnectionOptions, done: Done) => Tls.TLSSocket | undefined;
    const withAgent = agent as unknown as { createConnection: Create };
    const connect = withAgent.createConnection.bind(agent);
    const track = (socket: Tls.TLSSocket) => {
      this.pending.add(socket);
      socket.once('close', () => this.pending.delete(socket));
      return socket;
    };
    withAgent.createConnection = (options, done) => {
      const fast = fastContext(creds, ca);
      // Only a session from a connection accepted before is offered (the key always present: the
      // agent's own session cache, which holds sessions of connections not yet checked, stays out).
      const offered = options.session && acceptedSessions.has(options.session) ? options.session : undefined;
      const socket = track(
        connect({ ...options, session: offered, secureContext: fast.context, rejectUnauthorized: false }, () => undefined)!,
      );
      socket.once('error', done);
      socket.once('secureConnect', () => {
        this.pending.delete(socket);
        socket.off('error', done);
        const host = (options.servername || options.host || '').replace(/^\[(.*)\]$/, '$1');
        // A resumed session proves the server holds the keys of that earlier, accepted handshake
        // (and sends no certificate to check again).
        const resumed = offered !== undefined && socket.isSessionReused();
        if (resumed || fastServerCheck(socket.getPeerCertificate(true), fast.anchors, host) === 'trusted') {
          if (resumed) this.resumed++;
          // Sessions only from accepted connections; listened to here, before any ticket can arrive.
          recordSessions(socket, creds, this.sessions);
          done(null, socket);
          return;
        }
        socket.destroy();
        // OpenSSL verifies this one. Without a session: one made under the fast context would resume
        // with that context's (failed, ignored) verification result, and OpenSSL would refuse it.
        const full = { ...options, secureContext: tlsContext(creds), rejectUnauthorized: true, session: undefined };
        const checked = track(connect(full, () => undefined)!);
        checked.once('error', done);
        checked.once('secureConnect', () => {
          this.pending.delete(checked);
          done(null, checked);
        });
      });
      return undefined;
    };
  }

  close(): void {
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
    for (const socket of this.pending) socket.destroy();
    this.pending.clear();
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
  connections.requests++;
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
    const session = isHttps ? connections.sessionFor(creds) : undefined;
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
    // A request gets its socket once the server is accepted (rejectUnauthorized, or the fast check).
    // Listened to once per socket: a kept-alive one serves many requests (a listener per request
    // grew without end on the node agent's connection).
    if (isHttps) req.once('socket', (socket) => recordSessions(socket as Tls.TLSSocket, creds, connections.sessions));
    const timer = setTimeout(() => fail({ kind: 'timeout' }), remaining);
    req.on('error', (e) => fail({ kind: 'network', message: e.message }));
    req.end();
  });
}
