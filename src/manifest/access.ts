// Who a switch is to the API server, and what it may do there (docs/fleet.md), pure:
//   renderSwitchAccess   one switch's objects: a ServiceAccount named after its node in the
//                        switches' own namespace, and RBAC that reaches that one Node by name
//   renderClusterAccess  what every switch shares: the namespaces, reading and deleting pods in
//                        `sonic`, and (API servers ≥ 1.30) ValidatingAdmissionPolicies that narrow
//                        node changes to kubesonic's feature labels and taints on the switch's own
//                        node, and pod deletes to pods bound to it
//   switchKubeconfig     the kubeconfig a switch gets around its token
// RBAC alone cannot say "only these labels" or "only pods on my node"; the policies can, and they
// match only the switches' users, so the kubelet, controllers and admins are never in their way.
import type { KubernetesObject } from '@kubernetes/client-node';
import { dump } from 'js-yaml';
import { CLUSTER_RECORD, KUBESONIC_KEY_PREFIX, MANAGED_BY } from '../kube/ids.js';
import { FEATURE_NAMESPACE } from '../sonic/paths.js';
import { FEATURE_NAME } from './spec.js';

/**
 * The switches' ServiceAccounts live in a namespace of their own, where nothing runs: whoever may
 * create pods in `sonic` cannot mount a switch's identity there.
 */
export const SWITCH_NAMESPACE = 'kubesonic-switches';
/** Every switch's user name starts with this; the rest is its node's name. */
export const SWITCH_USER_PREFIX = `system:serviceaccount:${SWITCH_NAMESPACE}:`;
/** Every switch's ServiceAccount is in this group: the shared RoleBinding names it, not each switch. */
export const SWITCH_GROUP = `system:serviceaccounts:${SWITCH_NAMESPACE}`;
export const SWITCH_ROLE = 'kubesonic-switch';
export const NODE_POLICY = 'kubesonic-switch-nodes';
export const POD_POLICY = 'kubesonic-switch-pods';

const RBAC = 'rbac.authorization.k8s.io/v1';
const ADMISSION = 'admissionregistration.k8s.io/v1';
// A node's name is a DNS-1123 subdomain, as a ServiceAccount's must be: the one names the other.
const NODE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export const switchUser = (node: string): string => `${SWITCH_USER_PREFIX}${node}`;
export const switchRoleName = (node: string): string => `kubesonic:switch:${node}`;

export function checkNodeName(node: string): string {
  if (node.length > 253 || !NODE_NAME.test(node)) throw new Error(`${JSON.stringify(node)} is not a node name (a DNS-1123 subdomain)`);
  return node;
}

/** One switch's identity and its own Node: get, watch (by name) and patch it, nothing else. */
export function renderSwitchAccess(node: string): KubernetesObject[] {
  checkNodeName(node);
  const labels = { ...MANAGED_BY };
  const name = switchRoleName(node);
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: node, namespace: SWITCH_NAMESPACE, labels } },
    {
      apiVersion: RBAC,
      kind: 'ClusterRole',
      metadata: { name, labels },
      // list and watch with resourceNames are allowed only with fieldSelector metadata.name=<node>,
      // which is how the node's watchers ask (kube/client.ts watchNode).
      rules: [{ apiGroups: [''], resources: ['nodes'], resourceNames: [node], verbs: ['get', 'list', 'watch', 'patch'] }],
    } as KubernetesObject,
    {
      apiVersion: RBAC,
      kind: 'ClusterRoleBinding',
      metadata: { name, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects: [{ kind: 'ServiceAccount', name: node, namespace: SWITCH_NAMESPACE }],
    } as KubernetesObject,
  ];
}

// CEL pieces. Regexes use [.] rather than \. so no escaping layer (TS, YAML, CEL) can change them.
const FEATURE_RE = FEATURE_NAME.source.replace(/^\^|\$$/g, '');
const PREFIX_RE = KUBESONIC_KEY_PREFIX.replace(/\./g, '[.]');
const me = `request.userInfo.username.substring(${SWITCH_USER_PREFIX.length})`;
const orEmpty = (obj: string, field: string, empty: string) => `(has(${obj}.${field}) ? ${obj}.${field} : ${empty})`;
const sameField = (field: string, empty: string) => `${orEmpty('object', field, empty)} == ${orEmpty('oldObject', field, empty)}`;
const taintValue = (t: string) => `(has(${t}.value) ? ${t}.value : '')`;
const sameTaint = (a: string, b: string) => `${a}.key == ${b}.key && ${a}.effect == ${b}.effect && ${taintValue(a)} == ${taintValue(b)}`;

/** The taints a switch may add or remove: the operator's disable and kubesonic's stop (kube/cluster.ts). */
const allowedTaint = (t: string): string =>
  `${t}.effect == 'NoSchedule' && ((${t}.key.matches('^${FEATURE_RE}$') && ${taintValue(t)} == 'disabled') || ` +
  `(${t}.key.matches('^${PREFIX_RE}stopped-${FEATURE_RE}$') && ${taintValue(t)} == 'unit'))`;

function policy(
  name: string,
  resource: string,
  operations: string[],
  variables: { name: string; expression: string }[],
  validations: object[],
) {
  return {
    apiVersion: ADMISSION,
    kind: 'ValidatingAdmissionPolicy',
    metadata: { name, labels: { ...MANAGED_BY } },
    spec: {
      failurePolicy: 'Fail',
      matchConstraints: { resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations, resources: [resource] }] },
      // Only the switches: the kubelet, controllers and admins never meet these rules.
      matchConditions: [{ name: 'is-switch', expression: `request.userInfo.username.startsWith('${SWITCH_USER_PREFIX}')` }],
      variables: [{ name: 'me', expression: me }, ...variables],
      // reason Forbidden: a 403 like RBAC's, not the 422 "Invalid" that would read as a bad request.
      validations: validations.map((v) => ({ reason: 'Forbidden', ...v })),
    },
  } as KubernetesObject;
}

function binding(policyName: string): KubernetesObject {
  return {
    apiVersion: ADMISSION,
    kind: 'ValidatingAdmissionPolicyBinding',
    metadata: { name: policyName, labels: { ...MANAGED_BY } },
    spec: { policyName, validationActions: ['Deny'] },
  } as KubernetesObject;
}

/** The node policy: a switch's own node, and of it only kubesonic's feature labels and taints. */
export function nodePolicy(): KubernetesObject[] {
  const taintIn = (list: string) => `${list}.exists(o, ${sameTaint('o', 't')})`;
  const variables = [
    { name: 'newLabels', expression: orEmpty('object', 'metadata.labels', '{}') },
    { name: 'oldLabels', expression: orEmpty('oldObject', 'metadata.labels', '{}') },
    { name: 'newTaints', expression: orEmpty('object', 'spec.taints', '[]') },
    { name: 'oldTaints', expression: orEmpty('oldObject', 'spec.taints', '[]') },
    {
      name: 'changedLabels',
      expression:
        'variables.newLabels.filter(k, !(k in variables.oldLabels) || variables.oldLabels[k] != variables.newLabels[k]) + ' +
        'variables.oldLabels.filter(k, !(k in variables.newLabels))',
    },
    {
      name: 'changedTaints',
      expression:
        `variables.newTaints.filter(t, !${taintIn('variables.oldTaints')}) + ` +
        `variables.oldTaints.filter(t, !${taintIn('variables.newTaints')})`,
    },
  ];
  const validations = [
    {
      expression: `request.operation == 'UPDATE' && object.metadata.name == variables.me`,
      messageExpression: `'switch ' + variables.me + ' may change only its own node'`,
    },
    {
      expression: `variables.changedLabels.all(k, k.matches('^${PREFIX_RE}${FEATURE_RE}$') && (!(k in variables.newLabels) || variables.newLabels[k] == 'enabled'))`,
      messageExpression: `'switch ' + variables.me + ' may change only the labels ${KUBESONIC_KEY_PREFIX}<feature>=enabled, not ' + variables.changedLabels.join(', ')`,
    },
    {
      expression: `variables.changedTaints.all(t, ${allowedTaint('t')})`,
      message: `a switch may add or remove only the taints <feature>=disabled:NoSchedule and ${KUBESONIC_KEY_PREFIX}stopped-<feature>=unit:NoSchedule`,
    },
    {
      // Cordoning, annotations, owners and finalizers are the cluster's, not a switch's.
      expression: [
        sameField('spec.unschedulable', 'false'),
        sameField('metadata.annotations', '{}'),
        sameField('metadata.finalizers', '[]'),
        sameField('metadata.ownerReferences', '[]'),
      ].join(' && '),
      message: 'a switch may change only kubesonic feature labels and taints of its node',
    },
  ];
  return [policy(NODE_POLICY, 'nodes', ['CREATE', 'UPDATE', 'DELETE'], variables, validations), binding(NODE_POLICY)];
}

/** The pod policy: a switch deletes only pods bound to its own node. */
export function podPolicy(): KubernetesObject[] {
  const validations = [
    {
      expression: `request.operation == 'DELETE' && has(oldObject.spec.nodeName) && oldObject.spec.nodeName == variables.me`,
      messageExpression: `'switch ' + variables.me + ' may delete only pods on its own node'`,
    },
  ];
  return [policy(POD_POLICY, 'pods', ['DELETE'], [], validations), binding(POD_POLICY)];
}

export interface ClusterAccessOptions {
  /** Where the feature pods run. */
  namespace?: string;
  /** false for API servers older than 1.30 (no admissionregistration.k8s.io/v1 policies): RBAC alone. */
  policy?: boolean;
}

/** What every switch shares; applied once by a cluster admin. */
export function renderClusterAccess(opts: ClusterAccessOptions = {}): KubernetesObject[] {
  const ns = opts.namespace ?? FEATURE_NAMESPACE;
  const labels = { ...MANAGED_BY };
  const objs: KubernetesObject[] = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: SWITCH_NAMESPACE, labels } },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels } },
    {
      apiVersion: RBAC,
      kind: 'Role',
      metadata: { name: SWITCH_ROLE, namespace: ns, labels },
      // Reading the feature pods (the unit waits for its own) and deleting them (stop, restart);
      // which pods may be deleted is the pod policy's to narrow. No create, patch, deletecollection.
      rules: [
        { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch', 'delete'] },
        // Whether the cluster side of a feature was applied: migrate reads it before any change.
        { apiGroups: [''], resources: ['configmaps'], resourceNames: [CLUSTER_RECORD], verbs: ['get'] },
        // memory_checker on the switch: its feature pod's working set (kubectl top's number).
        { apiGroups: ['metrics.k8s.io'], resources: ['pods'], verbs: ['get'] },
      ],
    } as KubernetesObject,
    {
      apiVersion: RBAC,
      kind: 'RoleBinding',
      metadata: { name: SWITCH_ROLE, namespace: ns, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: SWITCH_ROLE },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: SWITCH_GROUP }],
    } as KubernetesObject,
  ];
  if (opts.policy !== false) objs.push(...nodePolicy(), ...podPolicy());
  return objs;
}

export interface SwitchKubeconfig {
  node: string;
  server: string;
  /** The cluster's CA, PEM. */
  ca: Buffer | string;
  token: string;
}

/** The switch's kubeconfig: its token inline, so the one root-only file is the whole credential. */
export function switchKubeconfig(c: SwitchKubeconfig): string {
  checkNodeName(c.node);
  const user = `kubesonic-switch-${c.node}`;
  return dump(
    {
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'kubesonic',
      clusters: [{ name: 'kubesonic', cluster: { server: c.server, 'certificate-authority-data': Buffer.from(c.ca).toString('base64') } }],
      contexts: [{ name: 'kubesonic', context: { cluster: 'kubesonic', user } }],
      users: [{ name: user, user: { token: c.token } }],
    },
    { lineWidth: -1 },
  );
}
