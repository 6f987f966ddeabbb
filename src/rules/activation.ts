import type { Environment } from '@marcbachmann/cel-js';

import type { SignalValues } from '../signals/catalog.js';

type GroupValues = Record<string, unknown>;
type GroupClass = new (values: GroupValues) => GroupValues;

/**
 * One class per CEL variable (`ip`, `geo`, …, `counters`), registered as that variable's
 * type constructor. cel-js 8.0 reads the fields of such an instance as properties, but it
 * wraps a plain object in a new Map subclass for every rule it evaluates.
 */
const groupClasses = new Map<string, GroupClass>();

function groupClass(variable: string): GroupClass {
  let group = groupClasses.get(variable);
  if (!group) {
    group = class SignalGroup {
      constructor(values: GroupValues) {
        Object.assign(this, values);
      }
    } as unknown as GroupClass;
    groupClasses.set(variable, group);
  }
  return group;
}

/**
 * Register a CEL variable whose value is a record of typed fields. A context that passes a
 * plain object or Map still evaluates, because `convert` copies it into the class.
 */
export function registerGroupVariable(
  environment: Environment,
  variable: string,
  typeName: string,
  fields: Record<string, string>,
): void {
  const Group = groupClass(variable);
  environment.registerType(typeName, {
    ctor: Group,
    fields: { ...fields },
    convert: (value: GroupValues | Map<string, unknown>) => new Group(value instanceof Map ? Object.fromEntries(value) : value),
  });
  environment.registerVariable({ name: variable, type: typeName });
}

/**
 * Build the CEL activation of one login: each registered signal group and the counters
 * copied once into its class, so every rule of the evaluation reads the same objects.
 */
export function buildActivation(signals: SignalValues, counters: Record<string, bigint>): Record<string, unknown> {
  const Counters = groupClass('counters');
  const activation: Record<string, unknown> = { counters: new Counters(counters) };
  for (const group in signals) {
    const Group = groupClasses.get(group);
    activation[group] = Group ? new Group(signals[group]) : signals[group];
  }
  return activation;
}

/** Counter values below this are converted to bigint once and shared. */
const SHARED_BIGINTS = 1024;
const sharedBigints = Array.from({ length: SHARED_BIGINTS }, (_, value) => BigInt(value));

/** Convert counter readings to CEL ints, the type the `counters` variable declares. */
export function countersToCel(counts: Readonly<Record<string, number>>): Record<string, bigint> {
  const values: Record<string, bigint> = {};
  for (const name in counts) {
    const count = counts[name];
    values[name] = sharedBigints[count] ?? BigInt(count);
  }
  return values;
}
