import { describe, expect, it } from "vitest";
import { natsServerPackage } from "./debian-nats-server.ts";

const INDEX = `Package: nats
Version: 1.0
Filename: pool/main/n/nats/nats_1.0_amd64.deb
SHA256: aaaa

Package: nats-server
Source: nats-server (2.10.27-1)
Version: 2.10.27-1+b2
Filename: pool/main/n/nats-server/nats-server_2.10.27-1+b2_amd64.deb
Size: 4502708
SHA256: 0123abcd

Package: nats-server-doc
Version: 2.10.27-1
Filename: pool/main/n/nats-server/nats-server-doc_2.10.27-1_all.deb
SHA256: ffff
`;

describe("natsServerPackage", () => {
  it("reads the nats-server stanza, not its neighbours with similar names", () => {
    expect(natsServerPackage(INDEX)).toEqual({
      version: "2.10.27-1+b2",
      filename: "pool/main/n/nats-server/nats-server_2.10.27-1+b2_amd64.deb",
      sha256: "0123abcd",
    });
  });

  it("refuses an index without it", () => {
    expect(() => natsServerPackage("Package: nats\nVersion: 1.0\n")).toThrow(/no complete nats-server entry/);
  });
});
