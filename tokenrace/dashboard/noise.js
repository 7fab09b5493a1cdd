// When is a provider "the fastest"? One request per provider is a single sample: the same provider's first
// token and speed move by several per cent from one request to the next (its load, the network, how it
// batches), and our own timing error is a few ms (BENCHMARKS.md: < 8 ms p99 at 16 concurrent streams). So a
// crown needs a lead over the runner-up that is clear both relatively and absolutely; otherwise the page says
// there is no clear winner. Only complete answers (status ok) compete, and at least two must.

export const RULE = {
  ttft: { rel: 0.10, abs: 25, unit: "ms", lower: true },     // first token: > 10 % and > 25 ms sooner
  rate: { rel: 0.10, abs: 2, unit: "tok/s", lower: false },  // stream: > 10 % and > 2 tok/s faster
};

export const RULE_TEXT = "A crown needs a clear lead over the runner-up: a first token more than 10 % and 25 ms " +
  "sooner, a stream more than 10 % and 2 tok/s faster. One request per provider is one sample; closer results " +
  "often swap places on the next run.";

export const RULE_SHORT = "A crown needs a clear lead over the runner-up: > 10 % and > 25 ms (TTFT), " +
  "> 10 % and > 2 tok/s (speed).";

/**
 * The verdict on one figure. entries: [{name, value}] of complete answers.
 * Returns {winner, first, second, lead, leadRel}: winner is null without a clear lead (first and second
 * are then the two closest contenders, for saying so).
 */
export function verdict(entries, key) {
  const r = RULE[key];
  const ok = entries.filter((e) => typeof e.value === "number" && Number.isFinite(e.value))
    .sort((a, b) => (r.lower ? a.value - b.value : b.value - a.value));
  const [first = null, second = null] = ok;
  if (!first || !second) return { winner: null, first, second, lead: null, leadRel: null };
  const lead = Math.abs(second.value - first.value);
  const leadRel = second.value > 0 ? lead / second.value : 0;
  const clear = leadRel > r.rel && lead > r.abs;
  return { winner: clear ? first : null, first, second, lead, leadRel };
}
