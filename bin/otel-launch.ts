#!/usr/bin/env node
// otel-launch: runs any command with otel-forksafe preloaded through NODE_OPTIONS.
import { runCli } from '../src/cli/run-cli.ts';

process.exitCode = await runCli(process.argv.slice(2));
