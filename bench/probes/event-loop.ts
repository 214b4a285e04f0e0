/**
 * Event-loop delay at 1 ms resolution, preloaded into a measured gateway by the benchmark
 * (`node --import dist/bench/probes/event-loop.js`). prom-client's gauges sample every 10 ms and
 * report the whole interval between two samples, so an idle process already shows 10 ms there;
 * a stall is only known to within that step. Here each recorded value is the gap between two
 * 1 ms ticks: a stall S shows as a value in [S, S + 1 ms], and the maximum is an upper bound.
 *
 * On SIGUSR2 the probe writes what it recorded since the previous signal to the file named by
 * `M2M_BENCH_LOOP_FILE` (JSON, with a sequence number) and starts over.
 */
import { writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const file = process.env['M2M_BENCH_LOOP_FILE'];
if (file !== undefined) {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  let sequence = 0;
  process.on('SIGUSR2', () => {
    sequence += 1;
    const ms = (ns: number) => ns / 1e6;
    writeFileSync(file, JSON.stringify({ sequence, maxMs: ms(histogram.max), p99Ms: ms(histogram.percentile(99)), p50Ms: ms(histogram.percentile(50)) }));
    histogram.reset();
  });
}
