// Objects as the multi-document YAML the render commands print (kubectl apply -f - reads it).
import type { KubernetesObject } from '@kubernetes/client-node';
import { dump } from 'js-yaml';

export const toYaml = (objs: readonly KubernetesObject[]): string =>
  objs.map((o) => `---\n${dump(o, { noRefs: true, lineWidth: 200 })}`).join('');
