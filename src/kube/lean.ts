// A read-only Cluster over node:https for the node agent, which runs for as long as features are
// migrated: client-node alone costs ~113 MiB RSS to load (bench/results.md), this costs next to
// nothing. GETs go through kube/http.ts; each watch is its own long-lived request whose
// newline-delimited JSON events are parsed as they arrive.
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { type ClusterReader, type PodList, WATCH_SECONDS, type WatchEventType, type WatchHandle } from './cluster.js';
import { ApiError, apiHeaders, getJson, tlsOptions } from './http.js';
import { nodeFieldSelector } from './ids.js';
import type { ApiCredentials } from './kubeconfig.js';
import { isObj } from '../util/json.js';

/** How long a list may take. */
const LIST_TIMEOUT_MS = 30_000;
/** TCP keep-alive probes start after this idle time: a dead peer is noticed within about a minute, not at the kernel's 2 h. */
const KEEPALIVE_MS = 30_000;

const query = (params: Record<string, string | undefined>): string =>
  Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `${k}=${encodeURIComponent(v!)}`)
    .join('&');

/** Start one watch; resolves once the API server accepted it (HTTP 200), rejects otherwise. */
export function watchJson(
  creds: ApiCredentials,
  path: string,
  onEvent: (type: WatchEventType, obj: unknown) => void,
  onDone: (err: unknown) => void,
): Promise<WatchHandle> {
  const url = new URL(path, `${creds.server}/`);
  const headers = apiHeaders(creds);
  // The credentials' TLS context is parsed once (kube/http.ts), not again for every re-watch.
  const tls = url.protocol === 'https:' ? tlsOptions(creds) : {};
  return new Promise((resolve, reject) => {
    let stopped = false;
    let ended = false;
    const end = (err: unknown) => {
      if (ended || stopped) return;
      ended = true;
      onDone(err);
    };
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(
      url,
      { method: 'GET', headers, agent: false, ...tls },
      (res: IncomingMessage) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new ApiError({ kind: 'http', status: res.statusCode ?? 0, message: '' }));
          return;
        }
        resolve({
          stop: () => {
            stopped = true;
            req.destroy();
          },
        });
        let buffer = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffer += chunk;
          for (let nl = buffer.indexOf('\n'); nl !== -1; nl = buffer.indexOf('\n')) {
            const line = buffer.slice(0, nl).trim();
            buffer = buffer.slice(nl + 1);
            if (!line) continue;
            let event: unknown;
            try {
              event = JSON.parse(line);
            } catch {
              end(new ApiError({ kind: 'malformed', message: 'watch event is not JSON' }));
              req.destroy();
              return;
            }
            if (!isObj(event) || typeof event.type !== 'string') continue;
            // ERROR: e.g. 410 Gone (resourceVersion too old) — end the watch, the view re-lists.
            if (event.type === 'ERROR') {
              end(
                new ApiError({
                  kind: 'http',
                  status: isObj(event.object) && typeof event.object.code === 'number' ? event.object.code : 0,
                  message: 'watch error',
                }),
              );
              req.destroy();
              return;
            }
            onEvent(event.type, event.object);
          }
        });
        res.on('end', () => end(undefined));
        res.on('error', (e) => end(e));
        res.on('close', () => end(undefined));
      },
    );
    req.on('socket', (s) => s.setKeepAlive(true, KEEPALIVE_MS));
    req.on('error', (e) => {
      reject(e);
      end(e);
    });
    req.end();
  });
}

export function leanClusterReader(creds: ApiCredentials): ClusterReader {
  return {
    async readNode(name) {
      return (await getJson(creds, `/api/v1/nodes/${encodeURIComponent(name)}`, Date.now() + LIST_TIMEOUT_MS)) as V1Node;
    },
    async listNodePods(namespace, node, labelSelector): Promise<PodList> {
      const q = query({ labelSelector, fieldSelector: nodeFieldSelector(node) });
      const list = (await getJson(creds, `/api/v1/namespaces/${namespace}/pods?${q}`, Date.now() + LIST_TIMEOUT_MS)) as {
        items?: V1Pod[];
        metadata?: { resourceVersion?: string };
      };
      return { items: list.items ?? [], resourceVersion: list.metadata?.resourceVersion };
    },
    watchNodePods(namespace, node, labelSelector, resourceVersion, onEvent, onDone) {
      const q = query({
        watch: 'true',
        labelSelector,
        fieldSelector: nodeFieldSelector(node),
        resourceVersion,
        allowWatchBookmarks: 'true',
        timeoutSeconds: String(WATCH_SECONDS),
      });
      return watchJson(creds, `/api/v1/namespaces/${namespace}/pods?${q}`, (type, obj) => onEvent(type, obj as V1Pod), onDone);
    },
    watchNode(node, onEvent, onDone) {
      // Bookmarks carry the newest resourceVersion the view resumes from (feature/view.ts).
      const q = query({
        watch: 'true',
        fieldSelector: `metadata.name=${node}`,
        allowWatchBookmarks: 'true',
        timeoutSeconds: String(WATCH_SECONDS),
      });
      return watchJson(creds, `/api/v1/nodes?${q}`, (type, obj) => onEvent(type, obj as V1Node), onDone);
    },
  };
}
