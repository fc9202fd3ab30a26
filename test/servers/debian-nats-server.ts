/**
 * nats-server binaries of other Debian releases than the machine's, fetched from a Debian mirror (the
 * one network these machines reach) and checked against the release's package index, so the suites
 * can run against 2.10 and a current server beside Debian bookworm's 2.9.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";

export const DEFAULT_DEBIAN_MIRROR = "http://deb.debian.org/debian";

interface Package {
  version: string;
  filename: string;
  sha256: string;
}

/** The nats-server stanza of a suite's `Packages` index. */
export function natsServerPackage(index: string): Package {
  const stanza = index.split(/\n\n+/).find((block) => /^Package: nats-server$/m.test(block));
  const field = (name: string) => stanza?.match(new RegExp(`^${name}: (.+)$`, "m"))?.[1]?.trim();
  const [version, filename, sha256] = [field("Version"), field("Filename"), field("SHA256")];
  if (!version || !filename || !sha256) throw new Error("the package index has no complete nats-server entry");
  return { version, filename, sha256 };
}

async function download(url: string): Promise<Buffer> {
  const response = await fetch(url, { signal: AbortSignal.timeout(180_000) });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return Buffer.from(await response.arrayBuffer());
}

/**
 * The path of the nats-server binary that Debian `suite` ships (amd64), kept under `cacheDir` by its
 * package version; fetched, verified and unpacked the first time.
 */
export async function debianNatsServer(
  suite: string,
  cacheDir: string,
  mirror = process.env.DEBIAN_MIRROR ?? DEFAULT_DEBIAN_MIRROR,
): Promise<{ version: string; binary: string }> {
  const index = gunzipSync(await download(`${mirror}/dists/${suite}/main/binary-amd64/Packages.gz`)).toString();
  const pkg = natsServerPackage(index);
  const binary = join(cacheDir, pkg.version, "nats-server");
  if (existsSync(binary)) return { version: pkg.version, binary };

  const deb = await download(`${mirror}/${pkg.filename}`);
  const digest = createHash("sha256").update(deb).digest("hex");
  if (digest !== pkg.sha256) throw new Error(`${pkg.filename}: sha256 ${digest}, the index says ${pkg.sha256}`);
  const work = mkdtempSync(join(tmpdir(), "nats-server-deb-"));
  try {
    writeFileSync(join(work, "package.deb"), deb);
    execFileSync("dpkg-deb", ["-x", join(work, "package.deb"), join(work, "root")]);
    mkdirSync(join(cacheDir, pkg.version), { recursive: true });
    renameSync(join(work, "root", "usr", "sbin", "nats-server"), binary);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return { version: pkg.version, binary };
}
