// Command gendata writes synthetic 1-minute market-data bars as CSV, for the
// bcfs benchmark (scripts/bench.sh) and for demos.
//
// Terms:
//   - Row index: the position of a row in the canonical bar sequence for a
//     given (-seed, -symbols, -start). Row i is bar i/symbols of symbol
//     i%symbols, so rows are sorted by (timestamp, symbol) by construction.
//   - Bar clock: one bar per minute, UTC, Monday 00:00 to Friday 23:59;
//     weekends have no bars (a 24x5 market, like index futures).
//   - Tick: the price unit of a symbol, 10^-d with d in 2..4. Prices are
//     integers of ticks, so OHLC consistency survives formatting exactly.
//
// Invariants of every written row: low <= min(open, close),
// max(open, close) <= high, low >= 1 tick, volume >= 0 and integral.
//
// Merge input: -overlap-from ROW starts the output at row index ROW of the
// same sequence, so with the same seed its keys (timestamp, symbol) are the
// keys of rows ROW.. of the big file and then continue past its end. -jitter
// moves every price by a few ticks (close always moves) so that overlapping
// rows are real conflicts rather than identical copies, the way two vendors
// disagree by a tick. The output is a pure function of the flags.
package main
