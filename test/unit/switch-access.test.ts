// The switch's identity and its access, as rendered (manifest/access.ts). Whether the API server
// enforces it is test/system/switch-access.test.ts; these tables pin what is asked for.
import { load } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import {
  NODE_POLICY,
  POD_POLICY,
  renderClusterAccess,
  renderSwitchAccess,
  SWITCH_GROUP,
  SWITCH_NAMESPACE,
  switchKubeconfig,
  switchUser,
} from '../../src/manifest/access.js';
import { credentialsFromKubeconfig } from '../../src/kube/kubeconfig.js';

// biome-ignore lint/suspicious/noExplicitAny: rendered manifests are free-form; the tests walk them by path
type Obj = Record<string, any>;
const byKind = (objs: readonly Obj[], kind: string) => objs.filter((o) => o.kind === kind);

/** Every (apiGroup, resource, verb, resourceName) a set of rules grants, flattened for a table. */
function grants(rules: Obj[]): string[] {
  return rules.flatMap((r) =>
    (r.apiGroups as string[]).flatMap((g) =>
      (r.resources as string[]).flatMap((res) =>
        (r.verbs as string[]).flatMap((v) => (r.resourceNames ?? ['*']).map((n: string) => `${g || 'core'}/${res}:${v}:${n}`)),
      ),
    ),
  );
}

describe('renderSwitchAccess', () => {
  const objs = renderSwitchAccess('sw-a.dc1') as Obj[];

  it('is one ServiceAccount named after the node, in the switches’ namespace, bound to a role on that node only', () => {
    expect(objs.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`)).toEqual([
      `ServiceAccount/${SWITCH_NAMESPACE}/sw-a.dc1`,
      'ClusterRole//kubesonic:switch:sw-a.dc1',
      'ClusterRoleBinding//kubesonic:switch:sw-a.dc1',
    ]);
    expect(grants(byKind(objs, 'ClusterRole')[0]!.rules)).toEqual([
      'core/nodes:get:sw-a.dc1',
      'core/nodes:list:sw-a.dc1',
      'core/nodes:watch:sw-a.dc1',
      'core/nodes:patch:sw-a.dc1',
    ]);
    expect(byKind(objs, 'ClusterRoleBinding')[0]!.subjects).toEqual([
      { kind: 'ServiceAccount', name: 'sw-a.dc1', namespace: SWITCH_NAMESPACE },
    ]);
    expect(switchUser('sw-a.dc1')).toBe(`system:serviceaccount:${SWITCH_NAMESPACE}:sw-a.dc1`);
  });

  it.each(['', 'Sw1', 'sw_1', '-sw', 'sw-', 'a..b', 'x'.repeat(254)])('refuses %j: not a node name', (node) => {
    expect(() => renderSwitchAccess(node)).toThrow(/is not a node name/);
  });
});

describe('renderClusterAccess', () => {
  const withPolicy = renderClusterAccess() as Obj[];

  it("grants every switch, as a group, pods in sonic (read and delete), their metrics and the cluster side's record (read), nothing else", () => {
    const roles = byKind(withPolicy, 'Role');
    expect(roles.map((r) => r.metadata.namespace)).toEqual(['sonic']);
    expect(grants(roles[0]!.rules)).toEqual([
      'core/pods:get:*',
      'core/pods:list:*',
      'core/pods:watch:*',
      'core/pods:delete:*',
      'core/configmaps:get:kubesonic-cluster',
      'metrics.k8s.io/pods:get:*',
    ]);
    expect(byKind(withPolicy, 'RoleBinding')[0]!.subjects).toEqual([
      { apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: SWITCH_GROUP },
    ]);
  });

  it('grants nothing on DaemonSets, RBAC objects or Secrets, anywhere', () => {
    const all = [...withPolicy, ...(renderSwitchAccess('a') as Obj[])].filter((o) => /Role$/.test(o.kind)).flatMap((o) => grants(o.rules));
    expect(all.filter((g) => /daemonsets|roles|rolebindings|secrets|\*/.test(g.split(':')[0]!))).toEqual([]);
    expect(all.filter((g) => /create|update|deletecollection|escalate|bind|impersonate|\*/.test(g.split(':')[1]!))).toEqual([]);
  });

  it.each([
    [NODE_POLICY, 'nodes', ['CREATE', 'UPDATE', 'DELETE']],
    [POD_POLICY, 'pods', ['DELETE']],
  ])('%s: matches %s %j of the switches only, denies with 403, and is bound with Deny', (name, resource, operations) => {
    const policy = withPolicy.find((o) => o.kind === 'ValidatingAdmissionPolicy' && o.metadata.name === name)!;
    expect(policy.spec.matchConstraints.resourceRules).toEqual([
      { apiGroups: [''], apiVersions: ['v1'], operations, resources: [resource] },
    ]);
    expect(policy.spec.matchConditions).toEqual([
      { name: 'is-switch', expression: `request.userInfo.username.startsWith('system:serviceaccount:${SWITCH_NAMESPACE}:')` },
    ]);
    expect(policy.spec.failurePolicy).toBe('Fail');
    expect(policy.spec.validations.map((v: Obj) => v.reason)).toEqual(policy.spec.validations.map(() => 'Forbidden'));
    // The name the switch is known by is its user name's tail.
    expect(policy.spec.variables[0]).toEqual({
      name: 'me',
      expression: `request.userInfo.username.substring(${`system:serviceaccount:${SWITCH_NAMESPACE}:`.length})`,
    });
    const binding = withPolicy.find((o) => o.kind === 'ValidatingAdmissionPolicyBinding' && o.metadata.name === name)!;
    expect(binding.spec).toEqual({ policyName: name, validationActions: ['Deny'] });
  });

  it('the pod policy compares the deleted pod’s node (oldObject) with the switch', () => {
    const policy = withPolicy.find((o) => o.metadata.name === POD_POLICY)!;
    expect(policy.spec.validations[0].expression).toContain('oldObject.spec.nodeName == variables.me');
  });

  it('--no-policy (API servers before 1.30): the same RBAC, no admissionregistration objects', () => {
    const rbacOnly = renderClusterAccess({ policy: false }) as Obj[];
    expect(rbacOnly.map((o) => o.kind)).toEqual(['Namespace', 'Namespace', 'Role', 'RoleBinding']);
    expect(withPolicy.slice(0, 4)).toEqual(rbacOnly);
    expect(renderClusterAccess({ namespace: 'features' }).find((o) => o.kind === 'Role')!.metadata!.namespace).toBe('features');
  });
});

describe('switchKubeconfig', () => {
  it('is a kubeconfig whose only user is the token: what the switch tools read', async () => {
    const text = switchKubeconfig({ node: 'sw1', server: 'https://10.0.0.1:6443', ca: 'PEM', token: 'tok' });
    const doc = load(text) as Obj;
    expect(doc.users).toEqual([{ name: 'kubesonic-switch-sw1', user: { token: 'tok' } }]);
    const creds = await credentialsFromKubeconfig(text, '/etc/kubesonic/switch.kubeconfig');
    expect(creds).toMatchObject({ server: 'https://10.0.0.1:6443', token: 'tok' });
    expect(creds.ca?.toString()).toBe('PEM');
  });
});
