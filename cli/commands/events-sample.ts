import { randomBytes } from 'node:crypto';
import { DetailType } from '../../functions/core/events';
import { stageResourceNames } from '../../functions/core/stage-names';
import { CliError, ExitCode } from '../errors';
import type { CliIO } from '../io';
import { readStageDeployment } from '../stage-template';
import { availableTasks, chooseTasks } from '../task-plan';

export const SAMPLE_TENANTS = ['acme', 'globex', 'initech'];

/**
 * NDJSON envelopes from each task's held-out test split (never what the models trained on), the
 * tasks taking turns, like `sam local generate-event`: pipe them into `inferbus put-events -`.
 */
export async function eventsSampleCommand(
  options: {
    tenant?: string;
    task?: string[];
    count: number;
    entries?: boolean;
    bus: string;
    seed?: number;
  },
  io: CliIO,
): Promise<ExitCode> {
  if (options.count < 1 || options.count > 100_000) {
    throw new CliError('--count must be between 1 and 100000', ExitCode.Usage);
  }
  const { tenantIdSchema } = await import('../../functions/core/envelope');
  if (options.tenant && !tenantIdSchema.safeParse(options.tenant).success) {
    throw new CliError(
      `--tenant ${JSON.stringify(options.tenant)}: ${tenantIdSchema.safeParse(options.tenant).error?.issues[0]?.message}`,
      ExitCode.Usage,
    );
  }
  // The dev stage's tasks when it is synthesized (its bus is the default), else the project's models.
  const available = availableTasks(readStageDeployment(stageResourceNames('dev').stackName));
  const tasks = chooseTasks(options.task ?? [], available.tasks, available.from);
  const [{ loadTaskSamples }, { sampleEntries }] = await Promise.all([
    import('../../functions/tasks/samples'),
    import('../../functions/producer/samples'),
  ]);
  let taskSamples: Awaited<ReturnType<typeof loadTaskSamples>>;
  try {
    taskSamples = await loadTaskSamples(tasks);
  } catch (error) {
    throw new CliError(`sample events: ${(error as Error).message}`, ExitCode.Environment);
  }
  const tenants = (options.tenant ? [options.tenant] : SAMPLE_TENANTS).map((id) => ({ id, weight: 0.1 }));
  const samples = sampleEntries({
    count: options.count,
    busName: options.bus,
    tenants,
    tasks: taskSamples,
    poisonShare: 1e-9,
    rejected: 0,
    seed: options.seed,
  });
  const now = Date.now();
  const run = `${now.toString(36)}${randomBytes(3).toString('hex')}`;
  samples.forEach((sample, i) => {
    const detail = JSON.parse(sample.entry.Detail as string);
    // Fresh ids, times and a stream of their own per task (numbered from 1 per tenant, as the
    // samples are), so samples sent twice are two sets of events that never take each other's
    // sequence numbers, and two tasks' requests never share one.
    detail.id = `sample-${run}-${String(i + 1).padStart(5, '0')}`;
    detail.stream = `sample-${run}${sample.task ? `-${sample.task}` : ''}`;
    detail.hlc = `${now + i}-0-sample`;
    detail.time = new Date(now + i).toISOString();
    if (options.entries) {
      io.out(
        JSON.stringify({
          ...sample.entry,
          DetailType: DetailType.InferenceRequested,
          Detail: JSON.stringify(detail),
        }),
      );
    } else io.out(JSON.stringify(detail));
  });
  return ExitCode.Ok;
}
