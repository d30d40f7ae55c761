/**
 * The demo's per-task figures: what was sent for each task against what the archive says
 * happened to it (its final answer and whether tier 1 escalated it). Pure, so it is tested apart
 * from the pipeline; named after no task.
 */
export interface SentRequest {
  readonly id: string;
  readonly task: string;
  readonly expectedLabel?: string;
}

/** An archived InferenceCompleted row (source_event_id, tier, label). */
export interface ArchivedResult {
  readonly sourceEventId: string;
  readonly tier: number;
  readonly label: string;
}

export interface TaskFigures {
  readonly task: string;
  readonly requests: number;
  /** Requests with a final answer in the archive. */
  readonly answered: number;
  /** Final answers per label, labels sorted. */
  readonly labels: readonly { readonly label: string; readonly count: number }[];
  readonly escalated: number;
  /** Answers per tier (the tier that gave the final answer). */
  readonly byTier: readonly { readonly tier: number; readonly count: number }[];
  readonly labelled: number;
  readonly correct: number;
}

/**
 * Per task, in the order tasks first appear in `sent`: answers are de-duplicated by request (a
 * redelivered request has several results; the highest tier's is the one served last).
 */
export function taskFigures(
  sent: readonly SentRequest[],
  results: readonly ArchivedResult[],
  escalatedIds: ReadonlySet<string>,
): TaskFigures[] {
  const final = new Map<string, ArchivedResult>();
  for (const r of results) {
    const seen = final.get(r.sourceEventId);
    if (!seen || r.tier > seen.tier) final.set(r.sourceEventId, r);
  }
  const byTask = new Map<string, SentRequest[]>();
  for (const s of sent) byTask.set(s.task, [...(byTask.get(s.task) ?? []), s]);
  return [...byTask].map(([task, requests]) => {
    const labels = new Map<string, number>();
    const tiers = new Map<number, number>();
    let answered = 0;
    let labelled = 0;
    let correct = 0;
    let escalated = 0;
    for (const request of requests) {
      if (escalatedIds.has(request.id)) escalated++;
      const answer = final.get(request.id);
      if (!answer) continue;
      answered++;
      labels.set(answer.label, (labels.get(answer.label) ?? 0) + 1);
      tiers.set(answer.tier, (tiers.get(answer.tier) ?? 0) + 1);
      if (request.expectedLabel !== undefined) {
        labelled++;
        if (request.expectedLabel === answer.label) correct++;
      }
    }
    return {
      task,
      requests: requests.length,
      answered,
      labels: [...labels].sort(([a], [b]) => a.localeCompare(b)).map(([label, count]) => ({ label, count })),
      escalated,
      byTier: [...tiers].sort(([a], [b]) => a - b).map(([tier, count]) => ({ tier, count })),
      labelled,
      correct,
    };
  });
}

/** The figures as aligned lines, one per task. */
export function formatTaskFigures(figures: readonly TaskFigures[]): string[] {
  const pct = (n: number, d: number) => (d > 0 ? `${((n / d) * 100).toFixed(2)}%` : 'n/a');
  const rows = figures.map((f) => [
    f.task,
    String(f.requests),
    String(f.answered),
    `${f.escalated} (${pct(f.escalated, f.requests)})`,
    f.labelled > 0 ? `${pct(f.correct, f.labelled)} (${f.correct}/${f.labelled})` : 'n/a (unlabelled)',
    f.byTier.map((t) => `t${t.tier} ${t.count}`).join(', ') || '-',
    f.labels.map((l) => `${l.label} ${l.count}`).join(', ') || '-',
  ]);
  const header = ['task', 'requests', 'answered', 'escalated', 'accuracy', 'answered by', 'labels'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i >= 1 && i <= 2 ? c.padStart(widths[i] as number) : c.padEnd(widths[i] as number)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}
