// One slot per process on globalThis, shared by every copy of otel-forksafe that gets loaded
// (argv --import plus NODE_OPTIONS, or an ESM and a CJS copy): the double-load guard lives here.

/** What the preload has done in this process so far. */
export interface ForksafeGlobalState {
  /** The version of the copy that claimed the process first. */
  readonly version: string;
  /** The current role, updated when an undecided process becomes primary or standalone. */
  role: string;
  /** Called by the marker our ESM loader hook appends to an ESM entry module. */
  mainEvaluated?: () => void;
  /** Called by the statement our loader hook puts in import-in-the-middle's module wrappers. */
  esmModuleLoading?: (url: string) => void;
  /**
   * Called by the statement our loader hook puts at the top of @opentelemetry/api's ES module
   * entry while the role is undecided (its CommonJS entry is seen by the require hook).
   */
  apiLoading?: () => void;
}

const SLOT = Symbol.for('otel-forksafe');

type GlobalWithSlot = typeof globalThis & { [SLOT]?: ForksafeGlobalState };

/**
 * Claims the process for this copy of the preload. Returns undefined when another copy got
 * there first (the preload was given twice): the caller must then do nothing at all.
 */
export function claimGlobalState(
  version: string,
  role: string
): ForksafeGlobalState | undefined {
  const g = globalThis as GlobalWithSlot;
  if (g[SLOT]) return undefined;
  const state: ForksafeGlobalState = { version, role };
  Object.defineProperty(g, SLOT, { value: state, enumerable: false });
  return state;
}
