// The HTTP client's own mistake in what it sent (a query parameter, a form field, a JSON body that
// does not fit): the API answers 400 with the message, which says what was expected and what was
// received. Not StoreInputError: that is the storage layer refusing a value handed to it, and a
// route's check of its own request is no storage matter (issue 14: names that say what they do).
export class RequestInputError extends Error {
  override name = 'RequestInputError';
}
