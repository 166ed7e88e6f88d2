// A read-only container registry (the OCI distribution API's pull side: /v2/, manifests, blobs)
// serving one image from a docker-archive tar (testbed/image.ts builds them), as slowly as a test
// asks: the layer blob is dripped out over `layerSeconds`, so the real containerd/kubelet see a long
// image pull that keeps making progress. Plain HTTP on the node's loopback; containerd is told so by
// testbed/cluster.sh (certs.d/127.0.0.1:5555/hosts.toml).
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mustRun } from './procs.js';

export const REGISTRY_PORT = 5555;

interface Blob {
  mediaType: string;
  bytes: Buffer;
  digest: string;
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const blob = (mediaType: string, bytes: Buffer): Blob => ({ mediaType, bytes, digest: sha(bytes) });

export interface SlowRegistry {
  /** The image reference to put in a spec. */
  image: string;
  /** Layer downloads begun and finished (a finished one took about layerSeconds). */
  layerPulls: { started: number; finished: number };
  close(): Promise<void>;
}

export async function startSlowRegistry(opts: { archive: string; repo: string; tag: string; layerSeconds: number }): Promise<SlowRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'kubesonic-registry-'));
  mustRun('tar', ['-xf', opts.archive, '-C', dir]);
  const [entry] = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { Config: string; Layers: string[] }[];
  if (!entry) throw new Error(`${opts.archive}: no image in manifest.json`);
  // The node's containerd already holds the archive's layers (the testbed imports them): content is
  // found by digest and never fetched. One file more in the last layer makes it a layer nobody has,
  // so the pull really downloads it; the config's diff_ids follow.
  const last = join(dir, entry.Layers.at(-1)!);
  writeFileSync(join(dir, 'kubesonic-slow-pull'), `${opts.repo}:${opts.tag} ${Date.now()}\n`);
  mustRun('tar', ['-rf', last, '-C', dir, 'kubesonic-slow-pull']);
  const layers = entry.Layers.map((l) => blob('application/vnd.oci.image.layer.v1.tar', readFileSync(join(dir, l))));
  const imageConfig = JSON.parse(readFileSync(join(dir, entry.Config), 'utf8')) as { rootfs: { diff_ids: string[] } };
  imageConfig.rootfs.diff_ids = layers.map((l) => l.digest);
  const config = blob('application/vnd.oci.image.config.v1+json', Buffer.from(JSON.stringify(imageConfig)));
  rmSync(dir, { recursive: true, force: true });
  const manifest = blob(
    'application/vnd.oci.image.manifest.v1+json',
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: config.mediaType, digest: config.digest, size: config.bytes.length },
        layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.bytes.length })),
      }),
    ),
  );
  const byDigest = new Map([config, manifest, ...layers].map((b) => [b.digest, b]));
  const layerPulls = { started: 0, finished: 0 };
  const timers = new Set<NodeJS.Timeout>();

  const send = (res: ServerResponse, b: Blob, head: boolean) => {
    res.writeHead(200, { 'Content-Type': b.mediaType, 'Content-Length': b.bytes.length, 'Docker-Content-Digest': b.digest });
    res.end(head ? undefined : b.bytes);
  };
  // The layer in 100 slices, one every layerSeconds/100: a pull that lasts and never stalls.
  const drip = (res: ServerResponse, b: Blob) => {
    layerPulls.started++;
    res.writeHead(200, { 'Content-Type': b.mediaType, 'Content-Length': b.bytes.length, 'Docker-Content-Digest': b.digest });
    const slices = 100;
    const size = Math.ceil(b.bytes.length / slices);
    let i = 0;
    const t = setInterval(
      () => {
        if (res.destroyed) {
          clearInterval(t);
          timers.delete(t);
          return;
        }
        res.write(b.bytes.subarray(i * size, (i + 1) * size));
        if (++i >= slices) {
          clearInterval(t);
          timers.delete(t);
          res.end();
          layerPulls.finished++;
        }
      },
      (opts.layerSeconds * 1000) / slices,
    );
    timers.add(t);
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://registry');
    const head = req.method === 'HEAD';
    if (url.pathname === '/v2/' || url.pathname === '/v2') {
      res.writeHead(200, { 'Docker-Distribution-API-Version': 'registry/2.0' });
      res.end('{}');
      return;
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(url.pathname);
    if (!m || m[1] !== opts.repo) {
      res.writeHead(404);
      res.end();
      return;
    }
    const ref = m[3]!;
    const b = m[2] === 'manifests' && ref === opts.tag ? manifest : byDigest.get(ref);
    if (!b) {
      res.writeHead(404);
      res.end();
      return;
    }
    if (m[2] === 'blobs' && layers.includes(b) && !head) drip(res, b);
    else send(res, b, head);
  });
  await new Promise<void>((r) => server.listen(REGISTRY_PORT, '127.0.0.1', r));
  return {
    image: `127.0.0.1:${REGISTRY_PORT}/${opts.repo}:${opts.tag}`,
    layerPulls,
    close: async () => {
      for (const t of timers) clearInterval(t);
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
