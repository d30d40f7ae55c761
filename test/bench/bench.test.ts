import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writePlots } from '../../bench/plots';
import { chartsFor, renderBenchmarks } from '../../bench/report';
import { BENCHES, runBenches } from '../../bench/run';
import { loadBenchTasks } from '../../bench/tasks';

/**
 * Smoke check that the benchmark code runs: the cheap benchmarks in quick mode, the report and the
 * plots rendered to a temporary folder. Never a timing assertion.
 */
describe('npm run bench (quick, cheap benchmarks)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'inferbus-bench-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs, reports every section it ran and renders the plots', async () => {
    const cheap = new Set(BENCHES.filter((b) => b.cheap).map((b) => b.name));
    const run = await runBenches({ quick: true, only: cheap, log: () => {} });
    expect(run.errors).toEqual({});
    expect(Object.keys(run.results).sort()).toEqual([...cheap].sort());

    const markdown = renderBenchmarks(run, join(dir, 'run.json'));
    for (const heading of [
      '## Inference',
      '## Cascade',
      '## Patterns',
      '## Archive',
      '## Cost',
      '## CPU floor of the throughput target',
      '## How to reproduce',
    ]) {
      expect(markdown).toContain(heading);
    }
    expect(markdown).not.toMatch(/NaN|undefined/);
    // Sections per task: every task with models and a definition is measured.
    for (const task of await loadBenchTasks()) {
      expect(markdown).toContain(`### Inference: task ${task.id}`);
      expect(markdown).toContain(`### Cascade: task ${task.id}`);
      expect(markdown).toMatch(
        new RegExp(
          `\\| tier-1 encoding \\+ model, batch 32 \\|.*\\(${task.manifest.cascades[0]?.tiers[0]}\\)`,
        ),
      );
    }

    const files = await writePlots(dir, chartsFor(run));
    expect(files).toEqual(
      expect.arrayContaining(['inference-latency.svg', 'cascade-accuracy.svg', 'patterns.svg']),
    );
    for (const file of files) expect(readFileSync(join(dir, file), 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>\n$/);
  }, 60_000);
});
