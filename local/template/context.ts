import { isAbsolute, join } from 'node:path';
import { at, TemplateError } from './errors.js';
import type { IntrinsicResolver } from './intrinsics.js';
import type { LocalEnvironment } from './names.js';
import type { CfnResource, CfnTemplate } from './template.js';

/** What every extractor needs: the template, the resolver and where the assets live. */
export class ExtractContext {
  constructor(
    readonly template: CfnTemplate,
    readonly resolver: IntrinsicResolver,
    readonly env: LocalEnvironment,
    readonly cdkOutDir: string,
  ) {}

  /** Resources of one type whose `Condition` (if any) holds, in template order. */
  resources(type: string): Array<[string, CfnResource]> {
    return Object.entries(this.template.Resources).filter(
      ([id, r]) =>
        r.Type === type &&
        (r.Condition === undefined ||
          this.resolver.conditionHolds(r.Condition, { logicalId: id, property: 'Condition' })),
    );
  }

  /** A property with its intrinsics resolved (`Properties.` is implied in `path`). */
  prop(logicalId: string, resource: CfnResource, path: string): unknown {
    let value: unknown = resource.Properties ?? {};
    for (const key of path.split('.')) {
      value =
        typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
    }
    return value === undefined ? undefined : this.resolver.resolve(value, logicalId, `Properties.${path}`);
  }

  string(logicalId: string, resource: CfnResource, path: string): string | undefined {
    const value = this.prop(logicalId, resource, path);
    if (value === undefined || value === null) return undefined;
    if (typeof value === 'string') return value;
    if (typeof value === 'number' || typeof value === 'boolean') return String(value);
    throw new TemplateError(
      `${at(logicalId, `Properties.${path}`)} must be a string, got ${JSON.stringify(value)}.`,
    );
  }

  number(logicalId: string, resource: CfnResource, path: string, fallback: number): number;
  number(logicalId: string, resource: CfnResource, path: string): number | undefined;
  number(logicalId: string, resource: CfnResource, path: string, fallback?: number): number | undefined {
    const value = this.prop(logicalId, resource, path);
    if (value === undefined || value === null) return fallback;
    const n = typeof value === 'number' ? value : Number(value);
    if (!Number.isFinite(n)) {
      throw new TemplateError(
        `${at(logicalId, `Properties.${path}`)} must be a number, got ${JSON.stringify(value)}.`,
      );
    }
    return n;
  }

  boolean(logicalId: string, resource: CfnResource, path: string, fallback: boolean): boolean {
    const value = this.prop(logicalId, resource, path);
    if (value === undefined || value === null) return fallback;
    return value === true || value === 'true';
  }

  /** Absolute asset folder from the resource's `aws:asset:path` metadata, relative to cdk.out. */
  assetDir(logicalId: string, resource: CfnResource): string {
    const path = resource.Metadata?.['aws:asset:path'];
    if (typeof path !== 'string') {
      throw new TemplateError(
        `${logicalId} (${resource.Type}) has no aws:asset:path metadata, so its code cannot be found in cdk.out; ` +
          'synthesize with asset metadata on (the cdk CLI does by default; in code pass context aws:cdk:enable-asset-metadata=true).',
      );
    }
    return isAbsolute(path) ? path : join(this.cdkOutDir, path);
  }
}
