// A fast way to accept the API server's certificate when the kubeconfig gives a CA, without handing
// that CA to OpenSSL. Why: on Node 18/20 the first SecureContext#addCACert of a process builds
// Node's whole bundled root store first (≈ 140 PEM certificates parsed), 21 ms of memory_checker's
// 80 ms on the metrics path (cpu profile, bench/results.md); Debian's nodejs loads the system CA
// bundle there instead (40 ms with ca-certificates installed, docs/packaging.md).
//
// This is an accept-only shortcut, never a reject: it says "trusted" only for the shape every
// Kubernetes cluster CA gives — a server certificate signed directly by a kubeconfig CA, with
// strong algorithms and only extensions whose meaning it checks — and "ask OpenSSL" for anything
// else, in which case the caller connects again with the CA given to OpenSSL (Node's own checks
// and error messages). So it can only be wrong by accepting what OpenSSL would reject; the rules
// below are each at least as strict as OpenSSL's for the certificates they accept.
import type * as Crypto from 'node:crypto';
import { createRequire } from 'node:module';
import type { KeyObject, X509Certificate } from 'node:crypto';
import type * as Tls from 'node:tls';

// Loaded on first use, as http.ts loads node:https: memory_checker without an API server (most
// runs on a switch) never checks a certificate, and loading these at start cost it 4 ms.
const load = createRequire(import.meta.url);
const x509 = (pem: string | Buffer): X509Certificate => new (load('node:crypto') as typeof Crypto).X509Certificate(pem);
const checkServerIdentity: typeof Tls.checkServerIdentity = (host, cert) =>
  (load('node:tls') as typeof Tls).checkServerIdentity(host, cert);

/** A DER element: its tag and where its contents start and end. */
interface Der {
  tag: number;
  start: number;
  end: number;
}

function der(buf: Buffer, pos: number, limit = buf.length): Der {
  if (pos + 2 > limit) throw new Error('truncated DER');
  const tag = buf[pos]!;
  let len = buf[pos + 1]!;
  let start = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n < 1 || n > 3 || start + n > limit) throw new Error('bad DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[start++]!;
  }
  if (start + len > limit) throw new Error('truncated DER');
  return { tag, start, end: start + len };
}

function children(buf: Buffer, parent: Der): Der[] {
  const out: Der[] = [];
  for (let p = parent.start; p < parent.end; ) {
    const child = der(buf, p, parent.end);
    out.push(child);
    p = child.end;
  }
  return out;
}

function oid(buf: Buffer, d: Der): string {
  const first = buf[d.start]!;
  const parts = [Math.floor(first / 40), first % 40];
  let value = 0;
  for (let i = d.start + 1; i < d.end; i++) {
    value = value * 128 + (buf[i]! & 0x7f);
    if (!(buf[i]! & 0x80)) {
      parts.push(value);
      value = 0;
    }
  }
  return parts.join('.');
}

/** UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ), as RFC 5280 requires them. */
function time(buf: Buffer, d: Der): number {
  const s = buf.toString('latin1', d.start, d.end);
  const m = d.tag === 0x17 ? /^(\d\d)(\d{10})Z$/.exec(s) : d.tag === 0x18 ? /^(\d{4})(\d{10})Z$/.exec(s) : null;
  if (!m) throw new Error('bad certificate time');
  const year = d.tag === 0x17 ? (Number(m[1]) < 50 ? 2000 : 1900) + Number(m[1]) : Number(m[1]);
  const [mo, dd, hh, mi, ss] = m[2]!.match(/\d\d/g)!.map(Number) as [number, number, number, number, number];
  return Date.UTC(year, mo - 1, dd, hh, mi, ss);
}

export interface CertFacts {
  signatureAlgorithm: string;
  notBefore: number;
  notAfter: number;
  /** OID → critical, and the extension's value (the OCTET STRING's contents). */
  extensions: Map<string, { critical: boolean; value: Buffer }>;
}

/** What the shortcut needs from a certificate that X509Certificate (Node 18/20) does not expose. */
export function certFacts(raw: Buffer): CertFacts {
  const [tbs, sigAlg] = children(raw, der(raw, 0));
  if (!tbs || !sigAlg) throw new Error('not a certificate');
  const fields = children(raw, tbs);
  const at = fields[0]?.tag === 0xa0 ? 1 : 0; // [0] version is optional (v1)
  const validity = fields[at + 3];
  if (!validity) throw new Error('not a certificate');
  const [notBefore, notAfter] = children(raw, validity);
  const extensions = new Map<string, { critical: boolean; value: Buffer }>();
  const wrapped = fields.find((f) => f.tag === 0xa3);
  if (wrapped) {
    for (const ext of children(raw, children(raw, wrapped)[0]!)) {
      const parts = children(raw, ext);
      const critical = parts.length === 3 && parts[1]!.tag === 0x01 && raw[parts[1]!.start] !== 0;
      const value = parts.at(-1)!;
      extensions.set(oid(raw, parts[0]!), { critical, value: raw.subarray(value.start, value.end) });
    }
  }
  return {
    signatureAlgorithm: oid(raw, children(raw, sigAlg)[0]!),
    notBefore: time(raw, notBefore!),
    notAfter: time(raw, notAfter!),
    extensions,
  };
}

const SIGNATURES = new Set([
  '1.2.840.113549.1.1.11', // sha256WithRSAEncryption
  '1.2.840.113549.1.1.12', // sha384WithRSAEncryption
  '1.2.840.113549.1.1.13', // sha512WithRSAEncryption
  '1.2.840.10045.4.3.2', // ecdsa-with-SHA256
  '1.2.840.10045.4.3.3', // ecdsa-with-SHA384
  '1.2.840.10045.4.3.4', // ecdsa-with-SHA512
  '1.3.101.112', // Ed25519
]);
const EXT = {
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  extKeyUsage: '2.5.29.37',
};
/** Extensions the shortcut understands when marked critical; any other critical one: ask OpenSSL. */
const UNDERSTOOD = new Set(Object.values(EXT));
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';

function strongKey(key: KeyObject): boolean {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') return (details.modulusLength ?? 0) >= 2048;
  if (key.asymmetricKeyType === 'ec') return ['prime256v1', 'secp384r1', 'secp521r1'].includes(details.namedCurve ?? '');
  return key.asymmetricKeyType === 'ed25519';
}

/** Known extensions only, strong signature algorithm and key, valid now. */
function plain(cert: X509Certificate, facts: CertFacts, now: number): boolean {
  for (const [id, ext] of facts.extensions) if (ext.critical && !UNDERSTOOD.has(id)) return false;
  return SIGNATURES.has(facts.signatureAlgorithm) && strongKey(cert.publicKey) && facts.notBefore <= now && now <= facts.notAfter;
}

/** No extended key usage, or one that includes serverAuth (what OpenSSL's TLS server purpose asks). */
function servesTls(facts: CertFacts): boolean {
  const eku = facts.extensions.get(EXT.extKeyUsage);
  if (!eku) return true;
  return children(eku.value, der(eku.value, 0)).some((d) => d.tag === 0x06 && oid(eku.value, d) === SERVER_AUTH);
}

/** The key usage bit string allows digitalSignature (what a TLS server's key does), or there is none. */
function signs(facts: CertFacts): boolean {
  const ku = facts.extensions.get(EXT.keyUsage);
  if (!ku) return true;
  const bits = der(ku.value, 0);
  return bits.tag === 0x03 && bits.end - bits.start >= 2 && (ku.value[bits.start + 1]! & 0x80) !== 0;
}

/** The CA certificates of a kubeconfig (a PEM bundle); unparsable: none, so OpenSSL decides. */
export function anchorsOf(ca: Buffer): X509Certificate[] {
  const pems = ca.toString('latin1').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  try {
    return pems.map((p) => x509(p));
  } catch {
    return [];
  }
}

/**
 * 'trusted' when the server's certificate is signed directly by one of `anchors` (issuer name, key
 * identifiers and the CA's key usage as X509_check_issued has them, then the signature), names
 * `host` (Node's own checkServerIdentity), may serve TLS (extended key usage serverAuth or none, on
 * both; key usage digitalSignature or none), and both certificates are in their validity period, use strong
 * algorithms and carry no critical extension the shortcut does not check (so no name constraints,
 * no policies). 'ask-openssl' otherwise: the caller connects again with the CA given to OpenSSL.
 */
export function fastServerCheck(
  peer: Tls.PeerCertificate | undefined,
  anchors: readonly X509Certificate[],
  host: string,
  now = Date.now(),
): 'trusted' | 'ask-openssl' {
  try {
    if (!peer?.raw?.length || checkServerIdentity(host, peer) !== undefined) return 'ask-openssl';
    const leaf = x509(peer.raw);
    const facts = certFacts(leaf.raw);
    if (!plain(leaf, facts, now) || !signs(facts) || !servesTls(facts)) return 'ask-openssl';
    for (const anchor of anchors) {
      const anchorFacts = certFacts(anchor.raw);
      if (!anchor.ca || !plain(anchor, anchorFacts, now) || !servesTls(anchorFacts)) continue;
      if (leaf.checkIssued(anchor) && leaf.verify(anchor.publicKey)) return 'trusted';
    }
    return 'ask-openssl';
  } catch {
    return 'ask-openssl';
  }
}
