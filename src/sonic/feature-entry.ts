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
