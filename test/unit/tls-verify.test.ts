// getJson's fast server check (kube/tls-verify.ts) against real HTTPS servers on loopback, with
// certificates made here by openssl: what it accepts it accepts on one connection, and everything
// OpenSSL would refuse is refused — before a single request byte (the bearer token) is sent.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiConnections, ApiError, getJson } from '../../src/kube/http.js';
import type { ApiCredentials } from '../../src/kube/kubeconfig.js';
import { anchorsOf, certFacts, fastServerCheck } from '../../src/kube/tls-verify.js';

const dir = mkdtempSync(join(tmpdir(), 'kubesonic-tls-'));
const at = (f: string) => join(dir, f);
const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });

function makeCa(name: string, signer?: string) {
  openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', at(`${name}.key`));
  if (!signer) {
    openssl('req', '-x509', '-new', '-key', at(`${name}.key`), '-subj', `/CN=${name}`, '-days', '3', '-out', at(`${name}.crt`));
    return;
  }
  openssl('req', '-new', '-key', at(`${name}.key`), '-subj', `/CN=${name}`, '-out', at(`${name}.csr`));
  sign(name, signer, ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign']);
}

/** A certificate for `name`'s key, signed by `ca` with `ext`, valid `from`–`to` (openssl ca dates). */
function sign(name: string, ca: string, ext: string[], from = '', to = '') {
  writeFileSync(at(`${name}.ext`), `${ext.join('\n')}\n`);
  writeFileSync(at('index.txt'), '');
  writeFileSync(at('serial'), `${Date.now().toString(16).padStart(16, '0')}\n`);
  writeFileSync(
    at('ca.cnf'),
    `[ca]\ndefault_ca = c\n[c]\ndatabase = ${at('index.txt')}\nnew_certs_dir = ${dir}\nserial = ${at('serial')}\n` +
      'default_md = sha256\ndefault_days = 3\npolicy = p\nunique_subject = no\n[p]\ncommonName = supplied\n',
  );
  const dates = from ? ['-startdate', from, '-enddate', to] : [];
  openssl(
    'ca',
    '-batch',
    '-notext',
    '-config',
    at('ca.cnf'),
    '-cert',
    at(`${ca}.crt`),
    '-keyfile',
    at(`${ca}.key`),
    '-in',
    at(`${name}.csr`),
    '-out',
    at(`${name}.crt`),
    '-extfile',
    at(`${name}.ext`),
    ...dates,
  );
}

function makeLeaf(name: string, ca: string, ext: string[], from = '', to = '') {
  openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', at(`${name}.key`));
  openssl('req', '-new', '-key', at(`${name}.key`), '-subj', `/CN=${name}`, '-out', at(`${name}.csr`));
  sign(name, ca, ext, from, to);
}

const SERVER = ['subjectAltName=IP:127.0.0.1', 'extendedKeyUsage=serverAuth', 'keyUsage=critical,digitalSignature'];

interface Site {
  server: Server;
  creds: ApiCredentials;
  /** TCP connections made to it, and HTTP requests answered (each carries the bearer token). */
  handshakes: number;
  requests: number;
}
const sites = new Map<string, Site>();

async function site(name: string, chain: string[]): Promise<Site> {
  const cert = chain.map((c) => readFileSync(at(`${c}.crt`), 'utf8')).join('');
  const s: Site = { server: undefined as unknown as Server, creds: undefined as unknown as ApiCredentials, handshakes: 0, requests: 0 };
  s.server = createServer({ key: readFileSync(at(`${chain[0]}.key`)), cert }, (_req, res) => {
    s.requests++;
    res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"ok":true}');
  });
  s.server.on('connection', () => s.handshakes++);
  await new Promise<void>((r) => s.server.listen(0, '127.0.0.1', r));
  const { port } = s.server.address() as AddressInfo;
  s.creds = { server: `https://127.0.0.1:${port}`, ca: readFileSync(at('good-ca.crt')), token: 'secret', origin: name };
  sites.set(name, s);
  return s;
}

beforeAll(async () => {
  makeCa('good-ca');
  makeCa('wrong-ca');
  makeCa('intermediate', 'good-ca');
  makeLeaf('good', 'good-ca', SERVER);
  makeLeaf('wrong-ca-leaf', 'wrong-ca', SERVER);
  makeLeaf('wrong-host', 'good-ca', ['subjectAltName=DNS:other.example', 'extendedKeyUsage=serverAuth']);
  makeLeaf('expired', 'good-ca', SERVER, '20200101000000Z', '20200102000000Z');
  makeLeaf('not-yet', 'good-ca', SERVER, '20990101000000Z', '20990102000000Z');
  makeLeaf('client-only', 'good-ca', ['subjectAltName=IP:127.0.0.1', 'extendedKeyUsage=clientAuth']);
  makeLeaf('unknown-critical', 'good-ca', [...SERVER, '1.2.3.4=critical,ASN1:NULL']);
  makeLeaf('via-intermediate', 'intermediate', SERVER);
  await site('good', ['good']);
  await site('wrong-ca', ['wrong-ca-leaf']);
  await site('wrong-host', ['wrong-host']);
  await site('expired', ['expired']);
  await site('not-yet', ['not-yet']);
  await site('client-only', ['client-only']);
  await site('unknown-critical', ['unknown-critical']);
  await site('via-intermediate', ['via-intermediate', 'intermediate']);
}, 60_000);
afterAll(async () => {
  for (const s of sites.values()) await new Promise((r) => s.server.close(r));
});

async function get(s: Site) {
  const connections = new ApiConnections();
  try {
    return await getJson(s.creds, '/api', Date.now() + 5000, connections);
  } finally {
    connections.close();
  }
}

describe('getJson verifies the API server against the kubeconfig CA', () => {
  it('a certificate signed by the CA for the address: accepted on one connection (the fast check)', async () => {
    const s = sites.get('good')!;
    await expect(get(s)).resolves.toEqual({ ok: true });
    expect({ handshakes: s.handshakes, requests: s.requests }).toEqual({ handshakes: 1, requests: 1 });
  });

  it('a chain through an intermediate CA: accepted, by OpenSSL (the fast check declines it)', async () => {
    const s = sites.get('via-intermediate')!;
    await expect(get(s)).resolves.toEqual({ ok: true });
    expect({ handshakes: s.handshakes, requests: s.requests }).toEqual({ handshakes: 2, requests: 1 });
  });

  it.each([
    ['wrong-ca', /unable to (verify|get local issuer)/],
    ['wrong-host', /Hostname\/IP does not match/],
    ['expired', /certificate has expired/],
    ['not-yet', /certificate is not yet valid/],
    ['client-only', /unsuitable certificate purpose/],
    ['unknown-critical', /unhandled critical extension/],
  ])('%s: refused, and no request (no token) reaches the server', async (name, message) => {
    const s = sites.get(name)!;
    const failure = await get(s).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(ApiError);
    expect((failure as ApiError).message).toMatch(message);
    expect(s.requests).toBe(0);
  });
});

describe('fastServerCheck', () => {
  const anchors = () => anchorsOf(readFileSync(at('good-ca.crt')));
  /** What getPeerCertificate gives, as far as the check reads it. */
  const peerOf = (name: string) => {
    const x = new X509Certificate(readFileSync(at(`${name}.crt`)));
    return { raw: x.raw, subject: { CN: name }, subjectaltname: x.subjectAltName } as never;
  };

  it('reads validity and extensions from the DER', () => {
    const facts = certFacts(new X509Certificate(readFileSync(at('expired.crt'))).raw);
    expect([facts.notBefore, facts.notAfter]).toEqual([Date.UTC(2020, 0, 1), Date.UTC(2020, 0, 2)]);
    expect(facts.signatureAlgorithm).toBe('1.2.840.10045.4.3.2');
    expect(facts.extensions.get('2.5.29.15')?.critical).toBe(true);
    expect(facts.extensions.get('2.5.29.17')?.critical).toBe(false);
  });

  it('trusts only the direct, plain, current case; asks OpenSSL for everything else', () => {
    expect(fastServerCheck(peerOf('good'), anchors(), '127.0.0.1')).toBe('trusted');
    expect(fastServerCheck(peerOf('good'), anchors(), '127.0.0.2')).toBe('ask-openssl');
    expect(fastServerCheck(peerOf('good'), anchorsOf(readFileSync(at('wrong-ca.crt'))), '127.0.0.1')).toBe('ask-openssl');
    expect(fastServerCheck(peerOf('good'), [], '127.0.0.1')).toBe('ask-openssl');
    expect(fastServerCheck(peerOf('good'), anchors(), '127.0.0.1', Date.UTC(2200, 0, 1))).toBe('ask-openssl');
    for (const name of ['expired', 'not-yet', 'client-only', 'unknown-critical', 'via-intermediate', 'wrong-ca-leaf'])
      expect({ name, verdict: fastServerCheck(peerOf(name), anchors(), '127.0.0.1') }).toEqual({ name, verdict: 'ask-openssl' });
    expect(fastServerCheck(undefined, anchors(), '127.0.0.1')).toBe('ask-openssl');
    expect(fastServerCheck({ raw: Buffer.from('garbage') } as never, anchors(), '127.0.0.1')).toBe('ask-openssl');
  });
});

describe('one kept-alive connection for many requests (the node agent, the exporter)', () => {
  it('serves 30 requests on one handshake and adds no listener per request', async () => {
    const s = sites.get('good')!;
    const connections = new ApiConnections();
    const before = { handshakes: s.handshakes, requests: s.requests };
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      const counts = () => {
        const agent = connections.agentFor(s.creds) as unknown as { freeSockets: Record<string, import('node:tls').TLSSocket[]> };
        const sockets = Object.values(agent.freeSockets).flat();
        expect(sockets).toHaveLength(1);
        return Object.fromEntries(sockets[0]!.eventNames().map((e) => [String(e), sockets[0]!.listenerCount(e)]));
      };
      await expect(getJson(s.creds, '/api', Date.now() + 5000, connections)).resolves.toEqual({ ok: true });
      const first = counts();
      for (let i = 1; i < 30; i++) await expect(getJson(s.creds, '/api', Date.now() + 5000, connections)).resolves.toEqual({ ok: true });
      // The same listeners after 30 requests as after one: nothing added per request.
      expect(counts()).toEqual(first);
      expect({ handshakes: s.handshakes - before.handshakes, requests: s.requests - before.requests }).toEqual({
        handshakes: 1,
        requests: 30,
      });
      await new Promise((r) => setTimeout(r, 50));
      expect(warnings.filter((w) => /MaxListeners/.test(w))).toEqual([]);
    } finally {
      process.off('warning', onWarning);
      connections.close();
    }
  });
});
