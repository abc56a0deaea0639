/**
 * Checks a call's raw input before any schema sees it, so no procedure,
 * present or future, can be handed input that hangs, overflows or reaches the
 * database as a 500:
 * - every string and key is text Postgres can store (no NUL, no unpaired
 *   surrogate), named by its path as a schema's issue would be;
 * - no object contains itself, and shared objects do not expand past
 *   MAX_EXPANDED_NODES: superjson's `referentialEqualities` lets a client send
 *   either in a few bytes, and zod, JSON.stringify and the walk below would
 *   follow them forever or exponentially;
 * - nesting stops at MAX_DEPTH (zod and JSON.stringify recurse).
 */
import { isStorableText } from "../../shared/jobs.js";

export type InputPath = (string | number)[];
export interface InputIssue {
  code: "custom";
  path: InputPath;
  message: string;
}

export const MAX_DEPTH = 64;
export const MAX_EXPANDED_NODES = 1_000_000;
const MAX_ISSUES = 20;

function isContainer(value: unknown): value is object {
  return (
    Array.isArray(value) ||
    (value !== null && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype)
  );
}

function childrenOf(value: object): [string | number, unknown][] {
  return Array.isArray(value) ? [...value.entries()] : Object.entries(value);
}

const fieldName = (path: InputPath) => path.findLast((p) => typeof p === "string") ?? "input";

/** The issues with a call's raw input; empty when it may go on to the schema. */
export function inputIssues(input: unknown): InputIssue[] {
  const issues: InputIssue[] = [];
  const refuse = (path: InputPath, message: string) => issues.push({ code: "custom", path, message });
  const onPath = new Set<object>();
  const seen = new Set<object>();
  let shared = false;
  // A stack, not recursion: a deeply nested body must not overflow the call stack.
  // An "exit" entry takes its object off the current path once its children are done.
  const pending: { value: unknown; path: InputPath; exit?: true }[] = [{ value: input, path: [] }];
  for (let item = pending.pop(); item && issues.length < MAX_ISSUES; item = pending.pop()) {
    const { value, path } = item;
    if (item.exit) {
      onPath.delete(value as object);
      continue;
    }
    if (typeof value === "string") {
      if (!isStorableText(value))
        refuse(path, `${fieldName(path)} must not contain NUL characters or unpaired surrogates`);
      continue;
    }
    if (!isContainer(value)) continue;
    if (onPath.has(value)) {
      refuse(path, `${fieldName(path)} must not contain itself`);
      continue;
    }
    if (seen.has(value)) {
      shared = true; // checked once; its expanded size is counted below
      continue;
    }
    if (path.length >= MAX_DEPTH) {
      refuse(path, `${fieldName(path)} is nested more than ${MAX_DEPTH} levels deep`);
      continue;
    }
    seen.add(value);
    onPath.add(value);
    pending.push({ value, path, exit: true });
    for (const [key, child] of childrenOf(value)) {
      if (typeof key === "string" && !isStorableText(key)) {
        refuse([...path, key], `${fieldName([...path, key])} must not contain NUL characters or unpaired surrogates`);
      } else pending.push({ value: child, path: [...path, key] });
    }
  }
  if (issues.length === 0 && shared && expandedSize(input) > MAX_EXPANDED_NODES) {
    refuse([], `input expands to more than ${MAX_EXPANDED_NODES} values (repeated references)`);
  }
  return issues;
}

/**
 * How many values the input holds once shared objects are copied out, as
 * JSON.stringify or a schema would see it; counted once per distinct object
 * (post-order, memoised), so a small input cannot make this slow. Cycles were
 * refused before this runs.
 */
function expandedSize(root: unknown): number {
  if (!isContainer(root)) return 1;
  const size = new Map<object, number>();
  const pending: { value: object; done: boolean }[] = [{ value: root, done: false }];
  for (let item = pending.pop(); item; item = pending.pop()) {
    const { value, done } = item;
    if (size.has(value)) continue;
    const children = childrenOf(value).map(([, child]) => child);
    if (!done) {
      pending.push({ value, done: true });
      for (const child of children)
        if (isContainer(child) && !size.has(child)) pending.push({ value: child, done: false });
      continue;
    }
    let total = 1;
    for (const child of children) total += isContainer(child) ? (size.get(child) ?? 0) : 1;
    // Saturate: past the limit the exact figure no longer matters, and it cannot overflow.
    size.set(value, Math.min(total, MAX_EXPANDED_NODES + 1));
  }
  return size.get(root) ?? 1;
}
