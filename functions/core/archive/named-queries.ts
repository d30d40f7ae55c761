import { EVENT_SOURCE_ROOT, RESULT_SOURCE } from '../events';
import { ARCHIVE_TABLE_NAME } from './columns';

/**
 * The operator's questions, written once. The CDK app publishes them as Athena named queries;
 * the local runtime reads them back from the synthesized template and runs the same text on
 * DuckDB. Parameters are positional `?` (Athena execution parameters); `params` names them in
 * order so the CLI can accept `--param from=2026-11-01`.
 *
 * Everything here must be valid in both Athena (Trino) and DuckDB. Results are de-duplicated by
 * envelope id because delivery is at-least-once. A tier's decisions (a final result or an
 * escalation) both carry its `tier`, so a tier's escalation rate = its escalations / its decisions.
 *
 * Every task shares the table: results, escalations and failures name theirs in `task` (a request
 * may leave it out, meaning the stage's first task, so per-task figures come from the handlers'
 * rows). Nothing here names a task or a label; a label's probability is in the payload JSON,
 * `json_extract_scalar(payload, '$.probabilities.<label>')`.
 *
 * Envelope ids are the producers' own, unique only within a tenant: requests are told apart, and
 * joined to their results, by (tenant, id). The archive keeps every event on the bus, forged ones
 * included; the queries trust results only from the handlers' source (RESULT_SOURCE, which the
 * bus policy reserves to them) and requests only from their tenant's own source.
 */
export interface NamedQueryDefinition {
  readonly name: string;
  readonly description: string;
  readonly params: readonly {
    readonly name: string;
    readonly description: string;
    /** `day`: a calendar day yyyy-MM-dd, which the CLI checks before the query runs. */
    readonly type?: 'day';
  }[];
  readonly sql: string;
}

const T = ARCHIVE_TABLE_NAME;
/** A row the handlers published (a result, escalation or failure), not a look-alike. */
const fromHandlers = (alias = '') => `${alias}source = '${RESULT_SOURCE}'`;
/** A request its own tenant published. */
const fromItsTenant = (alias = '') => `${alias}source = concat('${EVENT_SOURCE_ROOT}.', ${alias}tenant)`;
/** One key per request across tenants (envelope ids are unique only within a tenant). */
const perTenant = (column: string) => `concat(tenant, ':', ${column})`;
const dateRange = [
  { name: 'from', description: 'first day, yyyy-MM-dd (partition dt)', type: 'day' },
  { name: 'to', description: 'last day, yyyy-MM-dd (partition dt)', type: 'day' },
] as const;

export const NAMED_QUERIES: readonly NamedQueryDefinition[] = [
  {
    name: 'hourly-tier-volume',
    description: 'Requests, results per tier and tier-1 escalation rate per hour, all tasks together',
    params: dateRange,
    sql: `SELECT dt, hour,
  count(DISTINCT CASE WHEN detail_type = 'InferenceRequested' THEN ${perTenant('envelope_id')} END) AS requests,
  count(DISTINCT CASE WHEN detail_type = 'InferenceCompleted' AND tier = 1 THEN envelope_id END) AS tier1_results,
  count(DISTINCT CASE WHEN detail_type = 'EscalationRequested' THEN envelope_id END) AS escalations,
  count(DISTINCT CASE WHEN detail_type = 'InferenceCompleted' AND tier = 2 THEN envelope_id END) AS tier2_results,
  round(CAST(count(DISTINCT CASE WHEN detail_type = 'EscalationRequested' AND tier = 1 THEN envelope_id END) AS double)
    / nullif(count(DISTINCT CASE WHEN tier = 1 THEN envelope_id END), 0), 4) AS escalation_rate
FROM ${T}
WHERE dt BETWEEN ? AND ?
  AND ((detail_type = 'InferenceRequested' AND ${fromItsTenant()}) OR ${fromHandlers()})
GROUP BY dt, hour
ORDER BY dt, hour`,
  },
  {
    name: 'latency-percentiles',
    description: 'Inference latency p50, p90 and p99 per task and tier',
    params: dateRange,
    sql: `SELECT task, tier, count(*) AS results,
  round(approx_percentile(latency_ms, 0.5), 3) AS p50_ms,
  round(approx_percentile(latency_ms, 0.9), 3) AS p90_ms,
  round(approx_percentile(latency_ms, 0.99), 3) AS p99_ms
FROM ${T}
WHERE dt BETWEEN ? AND ? AND detail_type IN ('InferenceCompleted', 'EscalationRequested') AND latency_ms IS NOT NULL
  AND ${fromHandlers()}
GROUP BY task, tier
ORDER BY task, tier`,
  },
  {
    name: 'tenant-volume',
    description: 'Events per tenant and detail-type per day',
    params: dateRange,
    sql: `SELECT dt, tenant, detail_type, count(DISTINCT envelope_id) AS events
FROM ${T}
WHERE dt BETWEEN ? AND ?
GROUP BY dt, tenant, detail_type
ORDER BY dt, tenant, detail_type`,
  },
  {
    name: 'results-with-source',
    description: 'Final results joined with the request that caused them',
    params: dateRange,
    sql: `SELECT DISTINCT r.source_event_id, q.tenant, r.task, q.stream, q.seq, r.tier, r.label, r.score,
  q.expected_label, r.model_version, r.latency_ms, q.event_time AS requested_at, r.event_time AS completed_at
FROM ${T} r
JOIN ${T} q ON q.tenant = r.tenant AND q.envelope_id = r.source_event_id
  AND q.detail_type = 'InferenceRequested' AND ${fromItsTenant('q.')}
WHERE r.dt BETWEEN ? AND ? AND r.detail_type = 'InferenceCompleted' AND ${fromHandlers('r.')}
ORDER BY completed_at DESC
LIMIT 1000`,
  },
  {
    name: 'accuracy-per-tier',
    description: 'Accuracy of final results against the labels producers supplied, per task and tier',
    params: dateRange,
    sql: `WITH results AS (
  SELECT DISTINCT tenant, source_event_id, task, tier, label FROM ${T}
  WHERE dt BETWEEN ? AND ? AND detail_type = 'InferenceCompleted' AND ${fromHandlers()}
), requests AS (
  SELECT DISTINCT tenant, envelope_id, expected_label FROM ${T}
  WHERE detail_type = 'InferenceRequested' AND expected_label IS NOT NULL AND ${fromItsTenant()}
)
SELECT r.task, r.tier, count(*) AS labelled_results,
  sum(CASE WHEN r.label = q.expected_label THEN 1 ELSE 0 END) AS correct,
  round(CAST(sum(CASE WHEN r.label = q.expected_label THEN 1 ELSE 0 END) AS double) / count(*), 4) AS accuracy
FROM results r JOIN requests q ON q.tenant = r.tenant AND q.envelope_id = r.source_event_id
GROUP BY r.task, r.tier
ORDER BY r.task, r.tier`,
  },
  {
    name: 'task-summary',
    description:
      'Per task and tier: decisions, escalations and escalation rate, final answers, mean confidence, and accuracy of the labelled answers',
    params: dateRange,
    sql: `WITH decisions AS (
  SELECT DISTINCT tenant, source_event_id, task, tier, detail_type, label, score FROM ${T}
  WHERE dt BETWEEN ? AND ? AND detail_type IN ('InferenceCompleted', 'EscalationRequested') AND ${fromHandlers()}
), requests AS (
  SELECT DISTINCT tenant, envelope_id, expected_label FROM ${T}
  WHERE detail_type = 'InferenceRequested' AND expected_label IS NOT NULL AND ${fromItsTenant()}
)
SELECT d.task, d.tier, count(*) AS decisions,
  sum(CASE WHEN d.detail_type = 'EscalationRequested' THEN 1 ELSE 0 END) AS escalated,
  round(CAST(sum(CASE WHEN d.detail_type = 'EscalationRequested' THEN 1 ELSE 0 END) AS double) / count(*), 4) AS escalation_rate,
  sum(CASE WHEN d.detail_type = 'InferenceCompleted' THEN 1 ELSE 0 END) AS answers,
  round(avg(d.score), 4) AS mean_score,
  sum(CASE WHEN d.detail_type = 'InferenceCompleted' AND q.expected_label IS NOT NULL THEN 1 ELSE 0 END) AS labelled_answers,
  round(CAST(sum(CASE WHEN d.detail_type = 'InferenceCompleted' AND d.label = q.expected_label THEN 1 ELSE 0 END) AS double)
    / nullif(sum(CASE WHEN d.detail_type = 'InferenceCompleted' AND q.expected_label IS NOT NULL THEN 1 ELSE 0 END), 0), 4) AS accuracy
FROM decisions d LEFT JOIN requests q ON q.tenant = d.tenant AND q.envelope_id = d.source_event_id
GROUP BY d.task, d.tier
ORDER BY d.task, d.tier`,
  },
  {
    name: 'exactly-once-outcomes',
    description:
      'One row per request (tenant and id): its final result, or its failure when it has none, with its ordering flag (reused, late, gap); only results the handlers published count. The exactly-once view of an at-least-once archive',
    params: dateRange,
    sql: `WITH outcomes AS (
  SELECT source_event_id, tenant, task, stream, seq, detail_type, tier, label, score, error_code, event_time,
    CASE
      WHEN json_extract_scalar(payload, '$.ordering.reused.seq') IS NOT NULL THEN 'reused'
      WHEN json_extract_scalar(payload, '$.ordering.late') = 'true' THEN 'late'
      WHEN json_extract_scalar(payload, '$.ordering.gap[0]') IS NOT NULL THEN 'gap'
    END AS ordering_flag,
    json_extract_scalar(payload, '$.ordering.reused.earlierId') AS reused_earlier_id,
    row_number() OVER (
      PARTITION BY tenant, source_event_id
      ORDER BY CASE WHEN detail_type = 'InferenceCompleted' THEN 0 ELSE 1 END, tier DESC, event_time, event_id
    ) AS pick
  FROM ${T}
  WHERE dt BETWEEN ? AND ? AND detail_type IN ('InferenceCompleted', 'InferenceFailed')
    AND source_event_id IS NOT NULL AND ${fromHandlers()}
)
SELECT source_event_id, tenant, task, stream, seq, detail_type AS outcome, tier, label, score, error_code,
  ordering_flag, reused_earlier_id, event_time
FROM outcomes
WHERE pick = 1
ORDER BY event_time, tenant, source_event_id`,
  },
  {
    name: 'dlq-bound-failures',
    description: 'Failures sent to a dead-letter queue, by tenant, task and error code, with an example',
    params: dateRange,
    sql: `SELECT tenant, task, error_code, count(DISTINCT source_event_id) AS events,
  min(event_time) AS first_seen, max(event_time) AS last_seen, max(error_message) AS example_message
FROM ${T}
WHERE dt BETWEEN ? AND ? AND detail_type = 'InferenceFailed' AND ${fromHandlers()}
GROUP BY tenant, task, error_code
ORDER BY events DESC, tenant, task, error_code`,
  },
];
