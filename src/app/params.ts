/**
 * Python clients often call tasks with keyword arguments (`apply_async(kwargs={'x': 1})`). A JS
 * function has no keyword arguments, so we read its parameter names from its source and place each
 * kwarg at its position. Tasks can also declare `params` explicitly.
 */

/** Parameter names of a function; `null` at positions that are destructured patterns. */
export function parameterNames(fn: (...args: never[]) => unknown): (string | null)[] {
  const src = stripComments(Function.prototype.toString.call(fn));
  const list = parameterList(src);
  if (list === null) return [];
  return splitTopLevel(list)
    .map((p) => p.trim())
    .filter((p) => p.length > 0)
    .map((p) => {
      const name = p.replace(/^\.\.\./, '').split('=')[0]?.trim() ?? '';
      return /^[A-Za-z_$][\w$]*$/.test(name) ? name : null;
    });
}

function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/[^\n]*/g, '');
}

/** The text between the parameter list's parentheses, or the single bare parameter of `x => …`. */
function parameterList(src: string): string | null {
  const bare = /^\s*(?:async\s+)?([A-Za-z_$][\w$]*)\s*=>/.exec(src);
  if (bare) return bare[1] as string;
  const open = src.indexOf('(');
  if (open === -1) return null;
  let depth = 0;
  for (let i = open; i < src.length; i++) {
    const ch = src[i];
    if (ch === '(' || ch === '[' || ch === '{') depth++;
    else if (ch === ')' || ch === ']' || ch === '}') {
      depth--;
      if (depth === 0) return src.slice(open + 1, i);
    }
  }
  return null;
}

function splitTopLevel(list: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote: string | null = null;
  let start = 0;
  for (let i = 0; i < list.length; i++) {
    const ch = list[i] as string;
    if (quote) {
      if (ch === '\\') i++;
      else if (ch === quote) quote = null;
    } else if (ch === '"' || ch === "'" || ch === '`') quote = ch;
    else if ('([{'.includes(ch)) depth++;
    else if (')]}'.includes(ch)) depth--;
    else if (ch === ',' && depth === 0) {
      parts.push(list.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(list.slice(start));
  return parts;
}

/**
 * Merge positional and keyword arguments into one positional list, raising Python's TypeErrors for
 * unknown or duplicated names.
 */
export function bindArguments(
  taskName: string,
  names: readonly (string | null)[],
  args: readonly unknown[],
  kwargs: Readonly<Record<string, unknown>>,
): unknown[] {
  let out: unknown[] | null = null;
  for (const [key, value] of Object.entries(kwargs)) {
    out ??= [...args];
    const index = names.indexOf(key);
    if (index === -1) throw new TypeError(`${taskName}() got an unexpected keyword argument '${key}'`);
    if (index < args.length) throw new TypeError(`${taskName}() got multiple values for argument '${key}'`);
    while (out.length < index) out.push(undefined);
    out[index] = value;
  }
  // No keyword arguments: the positional list as it came (the caller spreads it, never keeps it).
  return out ?? (args as unknown[]);
}
