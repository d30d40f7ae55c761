import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { NAMED_QUERIES } from '../../functions/core/archive/named-queries';
import { archiveRules } from '../../functions/core/archive/rules';
import { parseWorkQueueName, QueueUrls } from '../../functions/core/queue-names';
import { createApp } from '../../lib/app';
import { loadStageConfig } from '../../lib/config';
import type { TemplateModel } from '../../local/model';
import { loadTemplateModel, readCloudAssembly } from '../../local/template';

const ENDPOINT = 'http://127.0.0.1:4566';
let outdir: string;
let model: TemplateModel;

// What the dev stage declares: a function per tier of every task, and a lane (work queue, its DLQ,
// its rule and the rule's DLQ) per tenant of each.
const dev = loadStageConfig('dev');
const devTiers = dev.tasks.flatMap((task) =>
  task.tiers.map((config, i) => ({ task: task.id, tier: i + 1, config })),
);
const tenantIds = dev.tenants.map((t) => t.id).sort();
const laneCount = devTiers.length * tenantIds.length;

beforeAll(() => {
  outdir = mkdtempSync(join(tmpdir(), 'inferbus-template-'));
  mkdirSync(outdir, { recursive: true });
  const { app } = createApp({
    outdir,
    // The committed models: synth reads each task's manifest and refuses stand-ins.
    context: { 'aws:cdk:enable-asset-metadata': true, stage: 'dev' },
  });
  app.synth();
  model = loadTemplateModel(outdir, undefined, { endpoint: ENDPOINT });
});

describe('TemplateModel of the real app', () => {
  it('finds the stack and its region in the cloud assembly', () => {
    const assembly = readCloudAssembly(outdir);
    expect(assembly.stacks.map((s) => s.stackName)).toEqual(['inferbus-dev']);
    expect(model.stackName).toBe('inferbus-dev');
    expect(model.account).toBe('000000000000');
    expect(model.region).toBe(assembly.stacks[0]?.region);
    expect(model.buses).toEqual([
      {
        logicalId: expect.any(String),
        name: 'inferbus-dev',
        arn: `arn:aws:events:${model.region}:000000000000:event-bus/inferbus-dev`,
      },
    ]);
  });

  it('has a tier rule per lane routing to its work queue, the archive rules to Firehose and 1 unrouted-requests rule, each with a DLQ and retry policy', () => {
    const archiveRuleCount = archiveRules().length;
    expect(model.rules).toHaveLength(laneCount + 1 + archiveRuleCount);
    const queueArns = new Set(model.queues.map((q) => q.arn));
    const firehose = model.deliveryStreams[0]?.arn;
    const unrouted = model.rules.filter((r) => r.name.includes('Unrouted'));
    const tierRules = model.rules.filter(
      (r) => !unrouted.includes(r) && r.targets.every((t) => queueArns.has(t.arn)),
    );
    const archive = model.rules.filter((r) => r.targets.some((t) => t.arn === firehose));
    expect(tierRules).toHaveLength(laneCount);
    expect(archive).toHaveLength(archiveRuleCount);
    expect(unrouted).toHaveLength(1);
    for (const rule of model.rules) {
      expect(rule.enabled).toBe(true);
      expect(rule.eventBusName).toBe('inferbus-dev');
      expect(rule.arn).toBe(`arn:aws:events:${model.region}:000000000000:rule/inferbus-dev/${rule.name}`);
      for (const target of rule.targets) {
        expect(queueArns.has(target.deadLetterArn as string), `${rule.name} DLQ`).toBe(true);
        expect(target.retryPolicy?.maximumRetryAttempts).toBeGreaterThanOrEqual(0);
        expect(target.retryPolicy?.maximumEventAgeInSeconds).toBeGreaterThan(0);
      }
    }
    const tenants = tierRules.map((r) => (r.eventPattern as any).detail.tenant[0]).sort();
    expect(tenants).toEqual(tenantIds.flatMap((tenant) => devTiers.map(() => tenant)));
    for (const rule of archive) {
      const transformer = rule.targets[0]?.inputTransformer;
      expect(transformer?.inputTemplate).toContain('<aws.events.event.ingestion-time>');
      expect(transformer?.inputPathsMap?.event_id).toBe('$.id');
    }
  });

  it('has 3 queues per lane and 3 more (archive DLQ, unrouted queue and its DLQ), the work queues with redrive to their own DLQ', () => {
    expect(model.queues).toHaveLength(laneCount * 3 + 3);
    // Every queue the stack declares sets SqsManagedSseEnabled: true (QueueEncryption.SQS_MANAGED).
    expect(model.queues.filter((q) => q.sqsManagedSseEnabled !== true).map((q) => q.name)).toEqual([]);
    const redriven = model.queues.filter((q) => q.redrive);
    expect(redriven).toHaveLength(laneCount);
    const arns = new Set(model.queues.map((q) => q.arn));
    for (const q of redriven) {
      expect(arns.has(q.redrive?.deadLetterTargetArn as string)).toBe(true);
      expect(q.redrive?.maxReceiveCount).toBeGreaterThan(0);
      expect(q.url).toBe(`${ENDPOINT}/000000000000/${q.name}`);
      expect(q.visibilityTimeoutSeconds).toBeGreaterThan(30);
    }
    const tierRules = model.rules.filter(
      (r) => r.targets[0]?.arn.includes(':sqs:') && !r.name.includes('Unrouted'),
    );
    for (const rule of tierRules) {
      expect(redriven.map((q) => q.arn)).toContain(rule.targets[0]?.arn);
    }
  });

  it('has an inference function per tier of every task with its bundle and layer folders on disk', () => {
    expect(model.functions).toHaveLength(devTiers.length);
    for (const fn of model.functions) {
      const declared = devTiers.find(
        (t) => t.task === fn.environment.INFERBUS_TASK && String(t.tier) === fn.environment.INFERBUS_TIER,
      );
      expect(declared, fn.logicalId).toBeDefined();
      expect(statSync(fn.assetDir).isDirectory()).toBe(true);
      expect(existsSync(join(fn.assetDir, 'index.js'))).toBe(true);
      expect(fn.handler).toBe('index.handler');
      expect(fn.runtime).toMatch(/^nodejs/);
      expect(fn.timeoutSeconds).toBeGreaterThan(3);
      expect(fn.memoryMiB).toBeGreaterThanOrEqual(128);
      expect(fn.layerDirs.length).toBeGreaterThanOrEqual(2);
      for (const dir of fn.layerDirs) expect(statSync(dir).isDirectory()).toBe(true);
      // The live alias's ProvisionedConcurrencyConfig, none where the stage provisions 0.
      expect(fn.provisionedConcurrency).toBe(declared?.config.provisionedConcurrency.min);
      expect(fn.environment.EVENT_BUS_NAME).toBe('inferbus-dev');
      for (const value of Object.values(fn.environment)) expect(typeof value).toBe('string');
      // Queue URLs are derived by the handler, never listed in its environment.
      expect(Object.keys(fn.environment).filter((key) => key.includes('URL'))).toEqual([]);
    }
  });

  it('gives tier 1 its tenant policies in a layer at the path its environment names', () => {
    const tier1 = model.functions.find((fn) => fn.environment.TENANT_POLICIES_FILE);
    const file = tier1?.environment.TENANT_POLICIES_FILE as string;
    const layer = tier1?.layerDirs.find((dir) => existsSync(join(dir, file.replace(/^\/opt\//, ''))));
    expect(layer).toBeDefined();
    const policies = JSON.parse(readFileSync(join(layer as string, file.replace(/^\/opt\//, '')), 'utf8'));
    expect(Object.keys(policies).sort()).toEqual(['acme', 'globex', 'initech']);
  });

  it('names every work queue and its DLQ by the rule the handlers derive URLs with', () => {
    const byArn = new Map(model.queues.map((q) => [q.arn, q]));
    for (const esm of model.eventSourceMappings) {
      const work = byArn.get(esm.queueArn);
      const parts = parseWorkQueueName(work?.name ?? '', 'dev');
      expect(parts, work?.name).toMatchObject({ deadLetter: false });
      expect(devTiers.some((t) => t.task === parts?.task && t.tier === parts?.tier)).toBe(true);
      expect(tenantIds).toContain(parts?.tenant);
      expect(new QueueUrls(ENDPOINT).workQueue(esm.queueArn)).toBe(work?.url);
      const dlq = byArn.get(work?.redrive?.deadLetterTargetArn as string);
      expect(new QueueUrls(ENDPOINT).deadLetterQueue(esm.queueArn)).toBe(dlq?.url);
    }
  });

  it('maps an event source mapping per lane through the live alias to the right function', () => {
    expect(model.eventSourceMappings).toHaveLength(laneCount);
    const fnIds = new Set(model.functions.map((f) => f.logicalId));
    const fnById = new Map(model.functions.map((f) => [f.logicalId, f]));
    const queueByArn = new Map(model.queues.map((q) => [q.arn, q]));
    for (const esm of model.eventSourceMappings) {
      expect(fnIds.has(esm.functionLogicalId)).toBe(true);
      expect(esm.aliasName).toBe('live');
      expect(esm.maxConcurrency).toBeGreaterThanOrEqual(2);
      expect(esm.reportBatchItemFailures).toBe(true);
      expect(esm.enabled).toBe(true);
      expect(esm.batchSize).toBeGreaterThan(0);
      const queue = queueByArn.get(esm.queueArn);
      expect(queue?.redrive, 'ESM reads a work queue').toBeDefined();
      // A task's tier-N queues feed that task's tier-N function.
      const parts = parseWorkQueueName(queue?.name ?? '', 'dev');
      const fn = fnById.get(esm.functionLogicalId);
      expect(fn?.environment.INFERBUS_TASK, queue?.name).toBe(parts?.task);
      expect(fn?.environment.INFERBUS_TIER, queue?.name).toBe(String(parts?.tier));
    }
    expect(new Set(model.eventSourceMappings.map((e) => e.functionLogicalId)).size).toBe(devTiers.length);
  });

  it('reads the archive: Firehose with Parquet conversion, the Glue table, the workgroup and every named query', () => {
    expect(model.deliveryStreams).toHaveLength(1);
    const stream = model.deliveryStreams[0];
    const archiveBucket = model.buckets.find((b) => b.name === stream?.bucketName);
    expect(archiveBucket).toBeDefined();
    expect(stream?.prefix).toContain('!{timestamp:yyyy-MM-dd}');
    expect(stream?.errorOutputPrefix).toContain('!{firehose:error-output-type}');
    expect(stream?.bufferingIntervalSeconds).toBeGreaterThan(0);
    expect(stream?.bufferingSizeMiB).toBeGreaterThan(0);
    expect(stream?.parquet).toMatchObject({ databaseName: expect.any(String), tableName: 'events' });

    expect(model.glueTables).toHaveLength(1);
    const table = model.glueTables[0];
    expect(table?.databaseName).toBe(stream?.parquet?.databaseName);
    expect(table?.columns.map((c) => c.name)).toEqual(
      expect.arrayContaining(['event_id', 'tenant', 'seq', 'payload']),
    );
    expect(table?.columns.find((c) => c.name === 'seq')?.type).toBe('bigint');
    expect(table?.partitionKeys.map((c) => c.name)).toEqual(['dt', 'hour']);
    expect(table?.location).toBe(`s3://${stream?.bucketName}/events/`);
    expect(table?.parameters['projection.enabled']).toBe('true');

    expect(model.workGroups).toHaveLength(1);
    const wg = model.workGroups[0];
    expect(wg?.outputLocation).toMatch(/^s3:\/\/[a-z0-9.-]+\/.+\/$/);
    expect(wg?.bytesScannedCutoffPerQuery).toBeGreaterThan(0);

    expect(model.namedQueries.map((q) => q.name).sort()).toEqual(NAMED_QUERIES.map((q) => q.name).sort());
    for (const q of model.namedQueries) {
      expect(q.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(q.workGroup).toBe(wg?.name);
      expect(q.database).toBe(table?.databaseName);
      expect(q.queryString).toMatch(/SELECT/i);
    }
    expect(new Set(model.namedQueries.map((q) => q.id)).size).toBe(NAMED_QUERIES.length);
  });

  it('gives the same names and ids on every load', () => {
    const again = loadTemplateModel(outdir, 'inferbus-dev', { endpoint: ENDPOINT });
    expect(again).toEqual(model);
  });
});
