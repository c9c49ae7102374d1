// Loaded into a member with --import by bench:alloc. The first SIGUSR2 starts V8's sampling heap
// profiler, keeping the objects that collections freed as well (what a request allocates, not only what
// it leaves behind); the next one stops it and writes the profile (Chrome's .heapprofile format) to
// $RXETCD_ALLOC_PROFILE_DIR/<pid>.heapprofile. With RXETCD_ALLOC_SURVIVORS=1 it leaves out what
// scavenges freed: what is left is what outlived the young generation (promoted, whether it died later or not).
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { join } from "node:path";

const dir = process.env.RXETCD_ALLOC_PROFILE_DIR;
const interval = Number(process.env.RXETCD_ALLOC_INTERVAL ?? 1024);
if (dir) {
  const session = new Session();
  session.connect();
  let sampling = false;
  process.on("SIGUSR2", async () => {
    if (!sampling) {
      sampling = true;
      await session.post("HeapProfiler.startSampling", {
        samplingInterval: interval,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: process.env.RXETCD_ALLOC_SURVIVORS !== "1",
      });
      return;
    }
    sampling = false;
    const { profile } = await session.post("HeapProfiler.stopSampling");
    writeFileSync(join(dir, `${process.pid}.heapprofile`), JSON.stringify(profile));
  });
}
