/**
 * Athena (Trino) functions the archive queries use that DuckDB spells differently, as macros.
 * Differences worth knowing:
 * - `approx_percentile(x, p)` → `quantile_disc(x, p)`: exact and deterministic, and like Trino it
 *   returns a value that occurs in the data (never interpolates, unlike `quantile_cont`). Athena's
 *   answer is approximate (rank error around 1%), so on large data the two can differ slightly.
 *   DuckDB's own `approx_quantile` (T-Digest) interpolates and is not deterministic across runs
 *   with parallel scans, so it is not used. The weighted 3-argument form is not provided.
 * - `approx_distinct(x)` → `approx_count_distinct(x)` (HyperLogLog in both; estimates differ).
 * - `json_extract_scalar(json, path)` → `json_extract_string` (DuckDB returns NULL for non-scalars
 *   only through the macro's CASE).
 * - `from_iso8601_timestamp(s)` → `CAST(s AS TIMESTAMPTZ)`; `to_unixtime(t)` → `epoch(t)`.
 * - `sequence(start, stop)` → `generate_series(start, stop)` (both inclusive; the step form is not
 *   provided), so `UNNEST(sequence(0, 9))` works where DuckDB's own `range()` table function is refused.
 * Functions with the same name in both (`count_if`, `nullif`, `round`, `arbitrary`, `element_at`,
 * `cardinality`, `split_part`, `strpos`) need nothing.
 */
export const ATHENA_MACROS: readonly string[] = [
  'CREATE OR REPLACE MACRO approx_percentile(x, p) AS quantile_disc(x, p)',
  'CREATE OR REPLACE MACRO approx_distinct(x) AS approx_count_distinct(x)',
  `CREATE OR REPLACE MACRO json_extract_scalar(j, path) AS
     CASE WHEN json_type(json_extract(j, path)) IN ('OBJECT', 'ARRAY') THEN NULL ELSE json_extract_string(j, path) END`,
  'CREATE OR REPLACE MACRO from_iso8601_timestamp(s) AS CAST(s AS TIMESTAMPTZ)',
  'CREATE OR REPLACE MACRO to_unixtime(t) AS epoch(t)',
  'CREATE OR REPLACE MACRO sequence(a, b) AS generate_series(a, b)',
];
