// A GET-only JSON client for the API server over node:https, bounded by an absolute deadline.
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import type { ApiCredentials } from './kubeconfig.js';

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

export function getJson(creds: ApiCredentials, path: string, deadline: number): Promise<unknown> {
  const remaining = deadline - Date.now();
  if (remaining <= 0) return Promise.reject(new ApiError({ kind: 'timeout' }));
  const url = new URL(path, `${creds.server}/`);
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (creds.token) headers.Authorization = `Bearer ${creds.token}`;
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
    const options = {
      method: 'GET',
      headers,
      ...(isHttps ? { ca: creds.ca, cert: creds.cert, key: creds.key, rejectUnauthorized: !creds.insecureSkipTlsVerify } : {}),
    };
    const req = (isHttps ? httpsRequest : httpRequest)(url, options, (res) => {
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
    const timer = setTimeout(() => fail({ kind: 'timeout' }), remaining);
    req.on('error', (e) => fail({ kind: 'network', message: e.message }));
    req.end();
  });
}
