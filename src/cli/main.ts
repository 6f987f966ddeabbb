#!/usr/bin/env node
import { parseArgs } from 'node:util';

import { RiskgateError } from '../errors.js';
import { exitOnClosedStdout } from './closed-pipe.js';
import { DEMO_HELP, runDemo } from './demo.js';
import { START_HELP, runStart } from './start.js';
import { VERSION } from './version.js';

const MAIN_HELP = `Usage: riskgate <command> [options]

Risk-based authentication gateway: scores every login and allows, challenges or blocks it
before it reaches the app.

Commands:
  start     run the gateway with a config file
  demo      run the gateway in front of the bundled demo login app
  check     validate the config and rule files without starting
  test      run the test cases in rule files
  explain   show how each rule scores one login event
  replay    re-score recorded logins under the current rules and report changes
  export    print what the store holds about one account, as JSON
  forget    erase what the store holds about one account
  risk-key  print the key that signs forward mode's Riskgate-Risk header

Run riskgate <command> --help for a command's options. Version ${VERSION}.
`;

type Command = { help: string; run: (values: Record<string, string | boolean | undefined>, positionals: string[]) => Promise<number | void> };

const COMMANDS: Record<string, Command> = {
  start: { help: START_HELP, run: async (values) => runStart(values.config as string | undefined) },
  demo: { help: DEMO_HELP, run: async () => runDemo() },
};

async function main(argv: string[]): Promise<number | undefined> {
  const [name, ...rest] = argv;
  if (!name || name === '-h' || name === '--help') {
    process.stdout.write(MAIN_HELP);
    return name ? 0 : 2;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }

  const command = COMMANDS[name] ?? (await loadExtraCommand(name));
  if (!command) {
    process.stderr.write(`riskgate: unknown command "${name}"\n\n${MAIN_HELP}`);
    return 2;
  }

  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        rules: { type: 'string', multiple: false },
        json: { type: 'boolean' },
        strict: { type: 'boolean' },
        'skip-secret-check': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    process.stderr.write(`riskgate ${name}: ${(error as Error).message}\n\n${command.help}`);
    return 2;
  }
  if (parsed.values.help) {
    process.stdout.write(command.help);
    return 0;
  }

  const status = await command.run(parsed.values as Record<string, string | boolean | undefined>, parsed.positionals);
  return typeof status === 'number' ? status : undefined;
}

async function loadExtraCommand(name: string): Promise<Command | undefined> {
  if (name === 'check' || name === 'test' || name === 'explain' || name === 'replay') {
    const module = await import('./tuning.js');
    return module.TUNING_COMMANDS[name];
  }
  if (name === 'risk-key') {
    const module = await import('./risk-key.js');
    return { help: module.RISK_KEY_HELP, run: async (_values, positionals) => module.runRiskKey(positionals) };
  }
  if (name === 'forget' || name === 'export') {
    const module = await import('./privacy.js');
    return module.PRIVACY_COMMANDS[name];
  }
  return undefined;
}

exitOnClosedStdout();

main(process.argv.slice(2)).then(
  (status) => {
    if (status !== undefined) process.exitCode = status;
  },
  (error: unknown) => {
    if (error instanceof RiskgateError) {
      process.stderr.write(`riskgate: ${error.message}\n`);
    } else {
      process.stderr.write(`riskgate: ${error instanceof Error ? error.message : String(error)}\n`);
    }
    process.exitCode = 1;
  },
);
