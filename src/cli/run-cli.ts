// otel-launch's main: parse, launch, and turn the child's end into our own exit status.
import { parseLaunchArgs } from './args.ts';
import { buildChildEnv, launch, printError } from './launch.ts';

/** Runs the CLI and resolves with the status to exit with (the child's, 2 on usage errors). */
export async function runCli(argv: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseLaunchArgs(argv);
  } catch (err) {
    printError(
      `${err instanceof Error ? err.message : String(err)} (usage: otel-launch [flags] [--] <command> [args…])`
    );
    return 2;
  }
  if (parsed.command === undefined) {
    printError(
      'no command given (usage: otel-launch [flags] [--] <command> [args…])'
    );
    return 2;
  }
  const result = await launch(
    parsed.command,
    parsed.args,
    buildChildEnv(process.env, parsed.env)
  );
  if (result.signal) {
    // Die of the same signal, as the child did, so a parent shell sees the same status.
    process.removeAllListeners(result.signal);
    process.kill(process.pid, result.signal);
  }
  return result.code;
}
