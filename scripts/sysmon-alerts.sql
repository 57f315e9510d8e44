-- Alerts for scripts/sysmon_alerts.py (scripts/sysmon-alerts.service): every statement runs in
-- order at start; each alert_metrics(...) starts one alert. Adjust the webhook and the service.

-- /metrics with ALERTS{alertname, alertstate, ...} for Prometheus, with a token that survives
-- restarts (Prometheus: authorization: credentials_file: /etc/sysmon/serve.token).
SELECT id FROM serve_metrics(port := 19800, token_file := '/etc/sysmon/serve.token');

-- A filesystem over 90 % full for 5 minutes (one instance per mount point).
SELECT name FROM alert_metrics('disk_full',
    'SELECT mount_point, fs_type, used_pct FROM system_filesystems() WHERE used_pct > 90',
    "for" := INTERVAL 5 MINUTES, severity := 'warning',
    summary := '{mount_point} is {used_pct}% full',
    webhook := 'http://127.0.0.1:9093/hook', dir := '/var/lib/sysmon');

-- Memory pressure: tasks stalled on memory (PSI) for 2 minutes.
SELECT name FROM alert_metrics('memory_pressure',
    'SELECT kind, avg60_pct FROM system_pressure()
     WHERE resource = ''memory'' AND ((kind = ''some'' AND avg60_pct > 20) OR (kind = ''full'' AND avg60_pct > 5))',
    "for" := INTERVAL 2 MINUTES, severity := 'critical',
    summary := 'memory {kind} stall {avg60_pct}% over the last minute',
    webhook := 'http://127.0.0.1:9093/hook', dir := '/var/lib/sysmon');

-- A service's process missing for a minute.
SELECT name FROM alert_metrics('postgres_down',
    'SELECT ''postgres'' AS service WHERE NOT EXISTS (SELECT 1 FROM system_processes() WHERE name = ''postgres'')',
    "for" := INTERVAL 1 MINUTE, severity := 'critical', summary := '{service} is not running',
    webhook := 'http://127.0.0.1:9093/hook', dir := '/var/lib/sysmon');
