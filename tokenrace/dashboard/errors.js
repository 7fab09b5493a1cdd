// Provider failures in words a person understands.

/** A failure in words a user understands: [headline, detail]. */
export function describeError(kind, httpStatus, message, provider) {
  let detail = String(message || "");
  if (provider && detail.startsWith(provider + ": ")) detail = detail.slice(provider.length + 2);
  const s = Number(httpStatus) || 0;
  let head;
  if (kind === "http" || s >= 400) {
    if (s === 401 || s === 403) head = "The provider refused the API key. Check the key this provider's config reads.";
    else if (s === 404) head = "The provider does not know this model or endpoint.";
    else if (s === 408) head = "The provider timed out on its side.";
    else if (s === 429) head = "Rate limited: the provider asks to slow down. Try again in a moment.";
    else if (s >= 500) head = `The provider had a server error (HTTP ${s}). It is on their side; try again later.`;
    else if (s >= 400) head = `The provider rejected the request (HTTP ${s}).`;
    else head = "The provider answered with an error.";
  } else if (kind === "connect") head = "Could not reach the provider (network, DNS or wrong base URL).";
  else if (kind === "timeout") head = "The provider took too long to answer.";
  else if (kind === "stream") head = "The provider reported an error in the middle of its answer.";
  else if (kind === "protocol") head = "The provider's reply could not be understood.";
  else if (kind === "config") head = "This provider is not set up correctly.";
  else if (kind === "truncated") head = "The answer was cut off: the stream ended before its end marker. The text so far is kept.";
  else if (kind === "cancelled") head = "Stopped before the answer was complete.";
  else head = "Something went wrong with this provider.";
  return [head, detail];
}
