// Loaded into a member with --import by bench:profile. The first SIGUSR2 starts V8's CPU profiler
// (one sample every $RXETCD_CPU_PROFILE_INTERVAL microseconds), the next one stops it and writes the
// profile (Chrome's .cpuprofile format) to $RXETCD_CPU_PROFILE_DIR/<pid>.cpuprofile.
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { join } from "node:path";

const dir = process.env.RXETCD_CPU_PROFILE_DIR;
const interval = Number(process.env.RXETCD_CPU_PROFILE_INTERVAL ?? 1000);
if (dir) {
  const session = new Session();
  session.connect();
  let profiling = false;
  process.on("SIGUSR2", async () => {
    if (!profiling) {
      profiling = true;
      await session.post("Profiler.enable");
      await session.post("Profiler.setSamplingInterval", { interval });
      await session.post("Profiler.start");
      return;
    }
    profiling = false;
    const { profile } = await session.post("Profiler.stop");
    writeFileSync(join(dir, `${process.pid}.cpuprofile`), JSON.stringify(profile));
  });
}
