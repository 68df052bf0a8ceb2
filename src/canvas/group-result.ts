/**
 * GroupResult (`celery/result.py::GroupResult`): the results of a group's members, in order, with
 * the group id. Saved as `celery-taskset-meta-<gid>` in Celery's format so Python restores it too.
 */
import type { Celery } from '../app/celery.js';
import { AsyncResult, type GetOptions, type ResultTuple } from '../app/result.js';
import { PROPAGATE_STATES, type ResultMeta } from '../backends/types.js';
import { CeleriacError, TimeoutError } from '../errors.js';

export type MemberResult = AsyncResult | GroupResult<unknown[]>;

export class GroupResult<R extends unknown[] = unknown[]> {
  /** Phantom: the members' result types, in order. */
  declare readonly __results?: R;
  parent: AsyncResult | GroupResult<unknown[]> | null = null;

  constructor(
    readonly id: string,
    readonly results: MemberResult[],
    private readonly app: Celery,
    parent: AsyncResult | GroupResult<unknown[]> | null = null,
  ) {
    this.parent = parent;
  }

  get length(): number {
    return this.results.length;
  }

  /** Number of members that succeeded (Celery's `completed_count`). */
  async completedCount(): Promise<number> {
    let count = 0;
    for (const r of this.results) if (await r.successful()) count++;
    return count;
  }

  /** True when every member is ready (succeeded, failed or revoked). */
  async ready(): Promise<boolean> {
    for (const r of this.results) if (!(await r.ready())) return false;
    return true;
  }

  /** True when every member succeeded. */
  async successful(): Promise<boolean> {
    for (const r of this.results) if (!(await r.successful())) return false;
    return true;
  }

  /** True when any member failed. */
  async failed(): Promise<boolean> {
    for (const r of this.results) if (await r.failed()) return true;
    return false;
  }

  /** True when any member is not ready yet. */
  async waiting(): Promise<boolean> {
    return !(await this.ready());
  }

  /** Wait for every member; values in group order. A failure rejects (unless `propagate: false`). */
  get(options: GetOptions = {}): Promise<R> {
    return this.join(options);
  }

  /** Celery's `join`: members waited for in order; the first failure (in order) is thrown. */
  async join(options: GetOptions = {}): Promise<R> {
    const deadline = options.timeout !== undefined ? Date.now() + options.timeout : undefined;
    const values: unknown[] = [];
    for (const member of this.results) {
      const remaining = deadline !== undefined ? Math.max(0, deadline - Date.now()) : undefined;
      if (deadline !== undefined && remaining === 0 && !(await member.ready())) {
        throw new TimeoutError(`The operation timed out waiting for group ${this.id}`);
      }
      values.push(await member.get({ ...options, timeout: remaining } as GetOptions & { propagate?: true }));
    }
    return values as R;
  }

  /**
   * Members as they complete, in completion order: `for await (const r of group)`. Each is an
   * AsyncResult (or nested GroupResult) that is ready; read it with `get()`.
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<MemberResult> {
    const pending = new Map<number, Promise<number>>();
    this.results.forEach((member, i) => {
      pending.set(i, waitReady(member).then(() => i));
    });
    while (pending.size > 0) {
      const index = await Promise.race(pending.values());
      pending.delete(index);
      yield this.results[index]!;
    }
  }

  /** Celery's `as_tuple()`. */
  asTuple(): ResultTuple {
    return [[this.id, this.parent ? this.parent.asTuple() : null], this.results.map((r) => r.asTuple())];
  }

  /** Store the member ids as `celery-taskset-meta-<gid>` (Celery's `GroupResult.save`). */
  async save(): Promise<this> {
    await (await this.backend()).saveGroup(this.id, this.results.map((r) => r.id));
    return this;
  }

  /** Remove the saved group (Celery's `GroupResult.delete`). */
  async delete(): Promise<void> {
    await (await this.backend()).deleteGroup(this.id);
  }

  /** Forget every member's result and the saved group. */
  async forget(): Promise<void> {
    for (const r of this.results) await r.forget();
    await this.delete();
  }

  /** Revoke every member. */
  async revoke(options: { terminate?: boolean; signal?: string } = {}): Promise<void> {
    for (const r of this.results) await r.revoke(options);
  }

  /** A saved group, by id (Celery's `GroupResult.restore`), or null when none is stored. */
  static async restore<T extends unknown[] = unknown[]>(app: Celery, groupId: string): Promise<GroupResult<T> | null> {
    const backend = await app.connectBackend();
    if (!backend) throw new CeleriacError('No result backend is configured (result_backend is null)');
    const ids = await backend.restoreGroup(groupId);
    if (!ids) return null;
    return new GroupResult<T>(groupId, ids.map((id) => new AsyncResult(id, app)), app);
  }

  toString(): string {
    return this.id;
  }

  private async backend() {
    const backend = await this.app.connectBackend();
    if (!backend) throw new CeleriacError('No result backend is configured (result_backend is null)');
    return backend;
  }
}

/** Rebuild results from Celery's tuple form (`result_from_tuple`). */
export function resultFromTuple(app: Celery, tuple: unknown): MemberResult {
  if (!Array.isArray(tuple)) throw new CeleriacError(`not a result tuple: ${JSON.stringify(tuple)}`);
  const [head, nodes] = tuple as [unknown, unknown];
  const [id, parentTuple] = Array.isArray(head) ? (head as [unknown, unknown]) : [head, null];
  if (typeof id !== 'string') throw new CeleriacError(`result tuple without an id: ${JSON.stringify(tuple)}`);
  const parent = parentTuple ? resultFromTuple(app, parentTuple) : null;
  if (Array.isArray(nodes)) return new GroupResult(id, nodes.map((n) => resultFromTuple(app, n)), app, parent);
  const result = new AsyncResult(id, app);
  result.parent = parent;
  return result;
}

/** Resolve once the member is ready, whatever its state. */
async function waitReady(member: MemberResult): Promise<void> {
  if (member instanceof GroupResult) {
    for (const r of member.results) await waitReady(r);
    return;
  }
  await member.get({ propagate: false });
}

/** The first failed member's meta, in group order (Celery's `_failed_join_report`). */
export async function firstFailure(group: GroupResult<unknown[]>): Promise<ResultMeta | null> {
  for (const r of group.results) {
    if (r instanceof GroupResult) {
      const inner = await firstFailure(r);
      if (inner) return inner;
      continue;
    }
    const meta = await r.meta();
    if (PROPAGATE_STATES.has(meta.status)) return meta;
  }
  return null;
}

