/**
 * The PveClient contract: one set of behaviours every adapter must show (snapshot replay, HTTP client
 * against the lab, HTTP client against a real cluster). Registers vitest tests; the cluster under test
 * only needs one online node with a running VM and one finished VM task with a few log lines, which the
 * suite discovers itself unless the setup names them.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GuestRef, PveClient } from "./port.ts";
import type { ClusterResource, TaskListEntry } from "./schemas.ts";

export interface ContractSetup {
  client: PveClient;
  /** A finished task of a guest whose log has at least 3 lines; discovered when absent. */
  task?: { node: string; upid: string };
  close?: () => Promise<void>;
}

interface Discovered {
  resources: ClusterResource[];
  onlineNodes: string[];
  runningVm: GuestRef;
  task: TaskListEntry;
}

async function discover(client: PveClient, hint: ContractSetup["task"]): Promise<Discovered> {
  const resources = await client.clusterResources();
  const onlineNodes = resources
    .filter((r) => r.type === "node" && r.status === "online" && r.node !== undefined)
    .map((r) => r.node as string);
  const vm = resources.find(
    (r) =>
      r.type === "qemu" && r.status === "running" && r.node !== undefined && onlineNodes.includes(r.node),
  );
  if (!vm || vm.vmid === undefined || vm.node === undefined) {
    throw new Error("contract: the cluster under test needs a running qemu VM on an online node");
  }
  const runningVm: GuestRef = { node: vm.node, type: "qemu", vmid: vm.vmid };
  for (const node of hint ? [hint.node] : onlineNodes) {
    const listed = await client.nodeTasks(node, { source: "all", limit: 100 });
    const candidates = listed.filter(
      (t) => (hint ? t.upid === hint.upid : /^\d+$/.test(t.id)) && t.endtime !== undefined,
    );
    for (const task of candidates) {
      // A log we cannot read (rotated away, not recorded) just makes the task a poor example.
      const total = await client.taskLog(task.node, task.upid, { start: 0, limit: 1 }).then(
        (page) => page.total,
        () => 0,
      );
      if (total >= 3) return { resources, onlineNodes, runningVm, task };
    }
  }
  throw new Error("contract: the cluster under test needs a finished guest task with at least 3 log lines");
}

export function describePveClientContract(name: string, setup: () => Promise<ContractSetup>): void {
  describe(`PveClient contract: ${name}`, () => {
    let ctx: ContractSetup | undefined;
    let found: Promise<Discovered> | undefined;
    const client = (): PveClient => {
      if (!ctx) throw new Error("contract: setup did not run");
      return ctx.client;
    };
    const cluster = (): Promise<Discovered> => {
      found ??= discover(client(), ctx?.task);
      return found;
    };

    beforeAll(async () => {
      ctx = await setup();
    });
    afterAll(async () => {
      await ctx?.close?.();
    });

    it("clusterResources lists nodes and guests, each guest with its node and vmid", async () => {
      const { resources } = await cluster();
      expect(resources.some((r) => r.type === "node")).toBe(true);
      const guests = resources.filter((r) => r.type === "qemu" || r.type === "lxc");
      expect(guests.length).toBeGreaterThan(0);
      for (const g of guests) {
        expect(typeof g.node).toBe("string");
        expect(Number.isInteger(g.vmid)).toBe(true);
        expect(g.id).toBe(`${g.type}/${g.vmid}`);
      }
    });

    it("clusterResources(type) filters like PVE: vm = qemu and lxc", async () => {
      const { resources } = await cluster();
      const vms = await client().clusterResources("vm");
      expect(vms.every((r) => r.type === "qemu" || r.type === "lxc")).toBe(true);
      expect(vms.length).toBe(resources.filter((r) => r.type === "qemu" || r.type === "lxc").length);
      const nodes = await client().clusterResources("node");
      expect(nodes.every((r) => r.type === "node")).toBe(true);
    });

    it("clusterStatus has one node entry per node", async () => {
      const { resources } = await cluster();
      const status = await client().clusterStatus();
      const names = status.filter((s) => s.type === "node").map((s) => s.name);
      const nodes = resources.filter((r) => r.type === "node").map((r) => r.node);
      expect(new Set(names)).toEqual(new Set(nodes));
    });

    it("nodeStatus reports memory in bytes, used within total", async () => {
      const { onlineNodes } = await cluster();
      for (const node of onlineNodes) {
        const { memory } = await client().nodeStatus(node);
        expect(memory.total).toBeGreaterThan(0);
        expect(memory.used).toBeGreaterThanOrEqual(0);
        expect(memory.used).toBeLessThanOrEqual(memory.total);
        expect(memory.free).toBeLessThanOrEqual(memory.total);
      }
    });

    it("guestConfig of a VM has its memory", async () => {
      const { runningVm } = await cluster();
      const config = await client().guestConfig(runningVm);
      expect(config.memory).toBeDefined();
      expect(Number.parseInt(String(config.memory).replace(/^current=/, ""), 10)).toBeGreaterThan(0);
    });

    it("migratePrecondition of a running VM says running and lists allowed nodes other than its own", async () => {
      const { runningVm } = await cluster();
      const pre = await client().migratePrecondition(runningVm);
      expect(pre.running).toBe(true);
      const allowed = pre.allowed_nodes ?? pre["allowed-nodes"];
      expect(Array.isArray(allowed)).toBe(true);
      expect(allowed).not.toContain(runningVm.node);
    });

    it("taskStatus of a finished task is stopped with an exit status", async () => {
      const { task } = await cluster();
      const status = await client().taskStatus(task.node, task.upid);
      expect(status.upid).toBe(task.upid);
      expect(status.status).toBe("stopped");
      expect(typeof status.exitstatus).toBe("string");
    });

    it("taskLog pages with start/limit: consecutive line numbers and the full total", async () => {
      const { task } = await cluster();
      const all = await client().taskLog(task.node, task.upid, { start: 0, limit: 0 });
      expect(all.total).toBe(all.lines.length);
      expect(all.total).toBeGreaterThanOrEqual(3);
      all.lines.forEach((line, i) => {
        expect(line.n).toBe((all.lines[0]?.n ?? 0) + i);
      });
      const page = await client().taskLog(task.node, task.upid, { start: 1, limit: 2 });
      expect(page.total).toBe(all.total);
      expect(page.lines).toEqual(all.lines.slice(1, 3));
      expect(await client().taskLog(task.node, task.upid)).toEqual(all);
    });

    it("nodeTasks filters by vmid and by type", async () => {
      const { task } = await cluster();
      const byVm = await client().nodeTasks(task.node, { vmid: Number(task.id), source: "all" });
      expect(byVm.map((t) => t.upid)).toContain(task.upid);
      expect(byVm.every((t) => t.id === task.id)).toBe(true);
      const byType = await client().nodeTasks(task.node, { typefilter: task.type, source: "all" });
      expect(byType.map((t) => t.upid)).toContain(task.upid);
      expect(byType.every((t) => t.type === task.type)).toBe(true);
    });

    it("HA status, manager status and rules answer with their shapes", async () => {
      expect(Array.isArray(await client().haStatusCurrent())).toBe(true);
      expect(typeof (await client().haManagerStatus())).toBe("object");
      expect(Array.isArray(await client().haRules())).toBe(true);
    });

    it("a guest that does not exist is a typed error with a code", async () => {
      const { runningVm } = await cluster();
      const error = await client()
        .guestConfig({ ...runningVm, vmid: 999_999_999 })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(error).toBeInstanceOf(Error);
      expect(typeof (error as { code?: unknown }).code).toBe("string");
    });
  });
}
