import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type RunningLab, startLab } from "../server.ts";
import { type LabHttp, labHttp } from "../testClient.ts";

describe("lab GET /access/permissions", () => {
  let lab: RunningLab;
  let http: LabHttp;
  beforeAll(async () => {
    lab = await startLab({ port: 0, nodes: 2, vms: 2, responders: false, authFailureDelayMs: 0 });
    http = labHttp(lab);
  });
  afterAll(async () => {
    await http.close();
    await lab.close();
  });
  afterEach(() => lab.faults.clear());

  it("dumps the default paths with every privilege, propagating", async () => {
    const tree = await http.data<Record<string, Record<string, number>>>("/access/permissions");
    expect(Object.keys(tree).sort()).toEqual([
      "/",
      "/access",
      "/access/groups",
      "/nodes",
      "/pool",
      "/sdn",
      "/storage",
      "/vms",
    ]);
    expect(tree["/vms"]?.["VM.Migrate"]).toBe(1);
    expect(tree["/vms"]?.["VM.GuestAgent.Audit"]).toBe(1);
    expect(tree["/vms"]?.["VM.Monitor"]).toBeUndefined();
  });

  it("takes a denied privilege away on its path and below, and lists the ACL path", async () => {
    lab.faults.denyPrivilege("VM.Migrate", "/vms");
    lab.faults.denyPrivilege("VM.Audit", "/vms/101");
    const tree = await http.data<Record<string, Record<string, number>>>("/access/permissions");
    expect(tree["/vms"]?.["VM.Migrate"]).toBeUndefined();
    expect(tree["/"]?.["VM.Migrate"]).toBe(1);
    expect(tree["/vms/101"]?.["VM.Migrate"]).toBeUndefined();
    expect(tree["/vms/101"]?.["VM.Audit"]).toBeUndefined();
    expect(tree["/vms"]?.["VM.Audit"]).toBe(1);
    const one = await http.data<Record<string, Record<string, number>>>("/access/permissions", {
      path: "/vms/102",
    });
    expect(Object.keys(one)).toEqual(["/vms/102"]);
    expect(one["/vms/102"]?.["VM.Migrate"]).toBeUndefined();
    expect(one["/vms/102"]?.["VM.Audit"]).toBe(1);
  });

  it("lists PVE 8's VM.Monitor on a PVE 8 cluster", async () => {
    const saved = lab.cluster.version;
    lab.cluster.version = { version: "8.4.1", release: "8.4", repoid: "2a5fa54a" };
    try {
      const tree = await http.data<Record<string, Record<string, number>>>("/access/permissions");
      expect(tree["/vms"]?.["VM.Monitor"]).toBe(1);
      expect(tree["/vms"]?.["VM.GuestAgent.Audit"]).toBeUndefined();
    } finally {
      lab.cluster.version = saved;
    }
  });
});
