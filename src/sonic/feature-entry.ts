/**
 * FEATURE|bmp as SONiC's own config_db test fixture has it (bmp is not seeded by init_cfg.json):
 * what `migrate` creates, field by field with HSETNX, where the entry is missing.
 */
export const DEFAULT_FEATURE_ENTRY: Readonly<Record<string, string>> = {
  auto_restart: 'enabled',
  check_up_status: 'false',
  delayed: 'False',
  has_global_scope: 'True',
  has_per_asic_scope: 'False',
  high_mem_alert: 'disabled',
  set_owner: 'local',
  state: 'enabled',
  support_syslog_rate_limit: 'false',
};

/**
 * Why migrate must refuse this CONFIG_DB FEATURE entry, if it must. ctrmgrd (sonic-ctrmgrd, on
 * images built with Kubernetes) lower-cases what it reads, then with set_owner=kube labels the node
 * <f>_enabled=true so its own Kubernetes deployment of the feature lands there, and restarts the unit
 * on remote_state transitions of that flow: a second manager of the same feature. kubesonic's
 * STATE_DB fields are quiet only beside set_owner=local (test/unit/ctrmgrd-decisions.test.ts).
 */
export function ctrmgrdConflict(feature: string, config: Readonly<Record<string, string>>): string | undefined {
  const owner = config.set_owner;
  if (owner === undefined || owner.toLowerCase() === 'local') return undefined;
  return `FEATURE|${feature} has set_owner=${owner}: ctrmgrd would deploy ${feature} from Kubernetes itself and restart ${feature}.service; set it to local first (redis-cli -n 4 HSET 'FEATURE|${feature}' set_owner local)`;
}
