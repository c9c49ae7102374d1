// The gateway reads field names and types from descriptors embedded in src/api/gateway; they must be
// those of the .proto files the generated code comes from.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileDescriptorSetBase64 } from "../../src/api/gateway/descriptors.gen.js";

describe("embedded descriptors", { timeout: 60_000 }, () => {
  it("match proto/ (else run src/api/gateway/generate-descriptors.sh)", () => {
    const root = join(import.meta.dirname, "../..");
    const built = execFileSync(
      join(root, "node_modules/.bin/buf"),
      ["build", "--exclude-source-info", "-o", "-"],
      {
        cwd: join(root, "proto"),
      },
    );
    assert.ok(
      built.equals(Buffer.from(fileDescriptorSetBase64, "base64")),
      "proto/ changed: run src/api/gateway/generate-descriptors.sh and commit descriptors.gen.ts",
    );
  });
});
