interface AccountRegistry<A> {
  registry: Map<string, A>;
  DUMMY_ACCOUNT: A;
}

const patched = new WeakSet<object>();

/**
 * s3rver rejects access keys it does not know (`InvalidAccessKeyId`), but handlers sign with
 * whatever credentials their environment has. Unknown keys resolve to s3rver's built-in account,
 * so any access key is accepted. The registry is module-global in s3rver; patching it once is
 * enough for every server in the process.
 */
export function acceptAnyAccessKey<A>(accounts: AccountRegistry<A>): void {
  const { registry } = accounts;
  if (patched.has(registry)) return;
  patched.add(registry);
  const get = registry.get.bind(registry);
  registry.get = (accessKeyId: string) => get(accessKeyId) ?? accounts.DUMMY_ACCOUNT;
}
