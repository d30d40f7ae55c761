import type { BillableUsage } from '../../functions/core/billing-units';
import { AWS_PRICES, priceUsage } from '../../functions/core/pricing';

/**
 * What the run would have cost in AWS at list prices, from the units the runtime metered: per
 * service, in total and per million requests. Provisioned concurrency is priced for the time this
 * runtime ran, so a short run carries a large share of it per request.
 */
export function meteredCostLines(usage: BillableUsage, requests: number): string[] {
  const lines = priceUsage(usage);
  const total = lines.reduce((sum, line) => sum + line.dollars, 0);
  const perMillion = (dollars: number) => (requests > 0 ? (dollars / requests) * 1e6 : 0);
  const width = Math.max(...lines.map((l) => l.service.length));
  return [
    `  what this run would cost in AWS (metered units at ${AWS_PRICES.region} list prices, ${AWS_PRICES.asOf}):`,
    ...lines.map(
      (l) =>
        `    ${l.service.padEnd(width)}  $${l.dollars.toFixed(6).padStart(10)}  ($${perMillion(l.dollars).toFixed(4)} per million requests)  ${l.detail}`,
    ),
    `    ${'total'.padEnd(width)}  $${total.toFixed(6).padStart(10)}  = $${perMillion(total).toFixed(2)} per million requests (${requests} requests; S3 storage not included)`,
  ];
}
