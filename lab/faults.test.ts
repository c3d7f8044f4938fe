import { describe, expect, it } from "vitest";
import { FaultController, FaultPlan, parseFaultFlag } from "./faults.ts";
import { LabClusterBuilder } from "./generate.ts";

function controller(random = () => 0) {
  const cluster = new LabClusterBuilder({ nodes: 2 }).vm(101, { node: "node1" }).build();
  return { cluster, faults: new FaultController(cluster, random) };
}

describe("FaultController", () => {
  it("matches API paths by glob and method, N times", () => {
    const { faults } = controller();
    faults.apiError("/nodes/*/qemu/*/migrate", { method: "POST", status: 502, times: 2 });
    expect(faults.onApiRequest("GET", "/nodes/node1/qemu/101/migrate")).toBeUndefined();
    expect(faults.onApiRequest("POST", "/nodes/node1/qemu/101/migrate")).toEqual({
      kind: "error",
      status: 502,
      message: "Bad Gateway",
    });
    expect(faults.onApiRequest("POST", "/nodes/node1/qemu/101/migrate/x")).toBeUndefined();
    expect(faults.onApiRequest("POST", "/nodes/node2/qemu/7/migrate")?.kind).toBe("error");
    expect(faults.onApiRequest("POST", "/nodes/node1/qemu/101/migrate")).toBeUndefined();
    expect(faults.list()).toEqual([]);
  });

  it("`**` matches the rest of a path; rate draws from the injected random source", () => {
    let r = 0.9;
    const { faults } = controller(() => r);
    faults.apiError("/cluster/**", { rate: 0.5 });
    expect(faults.onApiRequest("GET", "/cluster/ha/status/current")).toBeUndefined();
    r = 0.1;
    expect(faults.onApiRequest("GET", "/cluster/ha/status/current")?.kind).toBe("error");
  });

  it("delays, or holds forever without ms", () => {
    const { faults } = controller();
    faults.apiDelay("/version", 250);
    faults.apiDelay("/nodes");
    expect(faults.onApiRequest("GET", "/version")).toEqual({ kind: "delay", ms: 250 });
    expect(faults.onApiRequest("GET", "/nodes")).toEqual({ kind: "delay" });
  });

  it("applies and undoes state faults", () => {
    const { cluster, faults } = controller();
    const off = faults.nodeOffline("node2");
    const lock = faults.lockVm(101);
    expect(cluster.node("node2")?.online).toBe(false);
    expect(cluster.guest(101)?.lock).toBe("backup");
    faults.remove(off);
    faults.remove(lock);
    expect(cluster.node("node2")?.online).toBe(true);
    expect(cluster.guest(101)?.lock).toBeUndefined();
    expect(() => faults.nodeOffline("node9")).toThrow(/no node node9/);
  });

  it("fails migrations of one VM, forever or N times", () => {
    const { faults } = controller();
    faults.failMigration(101, "problems", 1);
    expect(faults.migrationFailure(102)).toBeUndefined();
    expect(faults.migrationFailure(101)).toBe("problems");
    expect(faults.migrationFailure(101)).toBeUndefined();
    faults.failMigration(101);
    expect([faults.migrationFailure(101), faults.migrationFailure(101)]).toEqual(["aborted", "aborted"]);
  });

  it("denies a privilege everywhere or on one ACL path", () => {
    const { faults } = controller();
    faults.denyPrivilege("Sys.Audit", "/nodes/node2");
    expect(faults.denies("Sys.Audit", "/nodes/node2")).toBe(true);
    expect(faults.denies("Sys.Audit", "/nodes/node1")).toBe(false);
    faults.denyPrivilege("VM.Migrate");
    expect(faults.denies("VM.Migrate", "/vms/101")).toBe(true);
  });
});

describe("parseFaultFlag", () => {
  it("reads every kind", () => {
    expect(parseFaultFlag("api-error:/cluster/resources:503:times=2")).toEqual({
      kind: "api-error",
      path: "/cluster/resources",
      status: 503,
      times: 2,
    });
    expect(parseFaultFlag("api-error:/nodes/**:rate=0.25")).toEqual({
      kind: "api-error",
      path: "/nodes/**",
      rate: 0.25,
    });
    expect(parseFaultFlag("api-delay:/version:1500")).toEqual({
      kind: "api-delay",
      path: "/version",
      ms: 1500,
    });
    expect(parseFaultFlag("migration-fails:103:problems:times=1")).toEqual({
      kind: "migration-fails",
      vmid: 103,
      mode: "problems",
      times: 1,
    });
    expect(parseFaultFlag("node-offline:node3")).toEqual({ kind: "node-offline", node: "node3" });
    expect(parseFaultFlag("vm-locked:101:snapshot")).toEqual({
      kind: "vm-locked",
      vmid: 101,
      lock: "snapshot",
    });
    expect(parseFaultFlag("deny:VM.Migrate:/vms/101")).toEqual({
      kind: "deny-privilege",
      privilege: "VM.Migrate",
      path: "/vms/101",
    });
  });

  it("explains what is wrong", () => {
    expect(() => parseFaultFlag("node-offline")).toThrow(/missing node name/);
    expect(() => parseFaultFlag("migration-fails:abc")).toThrow(/VMID must be a number/);
    expect(() => parseFaultFlag("migration-fails:101:sometimes")).toThrow(/mode/);
    expect(() => parseFaultFlag("api-error:cluster")).toThrow(/path/);
    expect(() => parseFaultFlag("boom:1")).toThrow(/unknown kind "boom"/);
  });

  it("a plan file is an array or { faults: [...] }", () => {
    const one = [{ kind: "node-offline", node: "node2" }];
    expect(FaultPlan.parse(one)).toEqual(one);
    expect(FaultPlan.parse({ faults: one })).toEqual(one);
    expect(FaultPlan.safeParse([{ kind: "nope" }]).success).toBe(false);
  });
});
