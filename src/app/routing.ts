/**
 * Task routing (`task_routes`): maps a task name to a queue (and optionally exchange, routing key,
 * priority), by exact name, by glob (`video.*`), or by a function. The first route that answers wins,
 * as in `celery/app/routes.py`.
 */

export interface RouteTarget {
  queue?: string;
  exchange?: string;
  routingKey?: string;
  priority?: number;
}

export type RouteFunction = (
  name: string,
  args: unknown[],
  kwargs: Record<string, unknown>,
) => RouteTarget | string | null | undefined;

export type RouteMap = Record<string, RouteTarget | string>;
export type TaskRoutes = RouteMap | RouteFunction | (RouteMap | RouteFunction)[];

export class Router {
  private readonly routes: (RouteMap | RouteFunction)[];
  private readonly globCache = new Map<string, RegExp>();

  constructor(routes: TaskRoutes) {
    this.routes = Array.isArray(routes) ? routes : [routes];
  }

  /** The route for a task, or null when none applies (the caller then uses the default queue). */
  route(name: string, args: readonly unknown[], kwargs: Readonly<Record<string, unknown>>): RouteTarget | null {
    for (const route of this.routes) {
      // A route function gets its own copies, so it cannot change what is sent.
      const found = typeof route === 'function' ? route(name, [...args], { ...kwargs }) : this.matchMap(route, name);
      if (found) return typeof found === 'string' ? { queue: found } : found;
    }
    return null;
  }

  private matchMap(map: RouteMap, name: string): RouteTarget | string | null {
    const exact = map[name];
    if (exact !== undefined) return exact;
    for (const [pattern, target] of Object.entries(map)) {
      if (pattern.includes('*') && this.glob(pattern).test(name)) return target;
    }
    return null;
  }

  private glob(pattern: string): RegExp {
    let re = this.globCache.get(pattern);
    if (!re) {
      const body = pattern
        .split('*')
        .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('.*');
      re = new RegExp(`^${body}$`);
      this.globCache.set(pattern, re);
    }
    return re;
  }
}
