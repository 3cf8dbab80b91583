// The fingerprint that keeps docs/images/ from being rewritten by runs that only moved figures, ids and times.
import { readFileSync } from "node:fs";
import { crc32 } from "node:zlib";
import { describe, expect, it } from "vitest";
import { fingerprintOf, pageFingerprint, withFingerprint } from "../support/docImages.ts";

describe("a page's fingerprint", () => {
  it("is the same when only numbers, completion ids, digests and times differ", () => {
    const a =
      "tiny v2 champion f05b83e5d1977e82 2026-12-07 13:28:27 chatcmpl-T2VVc9NqXT0I accuracy 0.65 [0.52, 0.78]";
    const b =
      "tiny v2 champion 2e012db261f17cbd 2027-01-02 09:00:01 chatcmpl-9TgnhgKHBDRcq accuracy 0.7 [0.5, 0.9]";
    expect(pageFingerprint(a)).toBe(pageFingerprint(b));
  });

  it("differs when the page's words differ", () => {
    expect(pageFingerprint("tiny round 1 · promoted")).not.toBe(pageFingerprint("tiny round 1 · rejected"));
  });
});

describe("a PNG's fingerprint", () => {
  it("is stored in a tEXt chunk with a valid CRC, read back, and replaced rather than added twice", () => {
    const png = readFileSync("docs/images/review-compare.png");
    const once = withFingerprint(png, "first");
    const twice = withFingerprint(once, "second");
    expect(fingerprintOf(once)).toBe("first");
    expect(fingerprintOf(twice)).toBe("second");
    expect(twice.length).toBe(once.length + 1);
    // Every chunk's CRC still matches, so image viewers read it as before.
    for (let at = 8; at < twice.length; ) {
      const length = twice.readUInt32BE(at);
      expect(twice.readUInt32BE(at + 8 + length)).toBe(crc32(twice.subarray(at + 4, at + 8 + length)));
      at += 12 + length;
    }
  });
});
