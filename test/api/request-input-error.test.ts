// The API's own checks of what a client sent throw RequestInputError, and the review's checks of its
// request (who acted, why) ReviewInputError: neither is the storage layer refusing a value
// (StoreInputError), which they used to throw (issue 14, item 7). The HTTP answer stays a 400 with
// the same message: test/api/hostile-requests.test.ts and unknown-routes.test.ts hold that.
import { describe, expect, it } from 'vitest';

import { isoDate, limitParam } from '../../src/api/query-params.js';
import { RequestInputError } from '../../src/api/request-input-error.js';
import { textField } from '../../src/api/text-fields.js';
import { checkActor, ReviewInputError } from '../../src/unknown-faces/review.js';
import { StoreInputError } from '../../storage/errors.js';

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a refusal');
}

describe('HTTP input errors', () => {
  it.each([
    [
      'a limit in exponent form',
      () => limitParam('1e3'),
      /^Expected limit to be an integer in 1\.\.1000 \(digits only\) but received "1e3"$/,
    ],
    [
      'a day that does not exist',
      () => isoDate('since', '2024-02-30'),
      /^Expected since to be an ISO date .* but received "2024-02-30"$/,
    ],
    [
      'a name with an escape character',
      () => textField('name', 'Eve\u001b[2J'),
      /^Expected name to be printable text of 1-200 characters/,
    ],
  ])('refuses %s with a RequestInputError, not a StoreInputError', (_label, fn, message) => {
    const error = thrown(fn);
    expect(error).toBeInstanceOf(RequestInputError);
    expect(error).not.toBeInstanceOf(StoreInputError);
    expect((error as Error).message).toMatch(message);
  });

  it("refuses a review's empty reviewer name with a ReviewInputError, not a StoreInputError", () => {
    const error = thrown(() => checkActor('  '));
    expect(error).toBeInstanceOf(ReviewInputError);
    expect(error).not.toBeInstanceOf(StoreInputError);
    expect((error as Error).message).toMatch(
      /^Expected the reviewer's name \(1-200 printable characters\) but received " {2}"$/,
    );
  });
});
