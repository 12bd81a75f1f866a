// Argument checks for the native API, done on the JavaScript side so that every refusal says
// what was expected and what was received before anything reaches C++.

/** A short description of a value for error messages: "-1 of type number", "a Float64Array of length 3". */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (ArrayBuffer.isView(value)) {
    const length = 'length' in value ? (value as { length: number }).length : value.byteLength;
    return `a ${value.constructor.name} of length ${length}`;
  }
  if (Array.isArray(value)) return `an Array of length ${value.length}`;
  if (typeof value === 'string') return `a string of length ${value.length}`;
  if (typeof value === 'object') return `an object (${value.constructor?.name ?? 'Object'})`;
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'symbol') return `${value.toString()} of type symbol`;
  return `${value as number | boolean | bigint} of type ${typeof value}`;
}

export function requireInteger(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`Expected an integer in ${min}..${max} for ${name} but received ${describe(value)}`);
  }
  return value;
}

export function requireFloat32Array(name: string, value: unknown): Float32Array {
  if (!(value instanceof Float32Array))
    throw new TypeError(`Expected a Float32Array for ${name} but received ${describe(value)}`);
  return value;
}

export function requireBigInt64Array(name: string, value: unknown): BigInt64Array {
  if (!(value instanceof BigInt64Array)) {
    throw new TypeError(`Expected a BigInt64Array for ${name} but received ${describe(value)}`);
  }
  return value;
}

/** Checks that `vectors` holds whole vectors of `dim` floats and returns how many. */
export function requireRows(name: string, vectors: Float32Array, dim: number, allowEmpty = true): number {
  if (vectors.length % dim !== 0 || (!allowEmpty && vectors.length === 0)) {
    throw new RangeError(
      `Expected ${name} to hold ${allowEmpty ? '' : 'one or more '}whole vectors of dim ${dim} (a length that is a multiple of ${dim}) but received ${describe(vectors)}`,
    );
  }
  return vectors.length / dim;
}
