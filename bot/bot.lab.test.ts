/**
 * The bot end to end: the real discord.js client against the local fake Discord, a worker runtime in
 * this process, real Redis, the real proxmox-api client against the lab. Asserts what Discord (the
 * fake) received: acks, plan messages, refusals, the live progress message, result embeds with their
 * chart, the summary and the role mentions.
 */
// discord.js first: vega-lite (loaded by the worker's chart) sets Set.prototype.toJSON, which breaks
// discord.js's event emitter when it loads afterwards.
import { labConnectionEnv, labPveClient } from "../lab/labClient.ts";
import "discord.js";
import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEventLog, type EventLog } from "../audit/eventLog.ts";
import { loadConfig } from "../config/load.ts";
import type { AppConfig } from "../config/schema.ts";
import { LabClusterBuilder } from "../lab/generate.ts";
import { type RunningLab, startLab } from "../lab/server.ts";
import { createLogger } from "../lib/logger.ts";
import { createRedis, deleteByPrefix } from "../lib/redis.ts";
import type { HttpPveClient } from "../proxmox/httpClient.ts";
import { createEvacuationQueue, type EvacuationQueue } from "../worker/queue.ts";
import { startWorkerRuntime, type WorkerRuntime } from "../worker/runtime.ts";
import { type Bot, createBot } from "./createBot.ts";
import { type FakeDiscord, type FakeMessage, type FakeUser, startFakeDiscord } from "./fakeDiscord.ts";

const ID = {
  app: "310000000000000001",
  guild: "310000000000000002",
  channel: "310000000000000003",
  otherChannel: "310000000000000004",
  operators: "310000000000000005",
  viewers: "310000000000000006",
  notify: "310000000000000007",
};
const TOKEN = "fake-bot-token.for.tests";
const alice: FakeUser = { id: "320000000000000001", username: "alice", roles: [ID.operators] };
const bob: FakeUser = { id: "320000000000000002", username: "bob", roles: [ID.operators] };
const vera: FakeUser = { id: "320000000000000003", username: "vera", roles: [ID.viewers] };
const silent = createLogger({ level: "silent" });

let lab: RunningLab;
let pve: HttpPveClient;
let redis: Redis;
let fake: FakeDiscord;
let config: AppConfig;
let events: EventLog;
let queue: EvacuationQueue;
let runtime: WorkerRuntime;
let bot: Bot;
const prefix = `test-bot-${randomBytes(4).toString("hex")}`;

function newBot(): Bot {
  return createBot({
    config,
    redis,
    pve,
    events,
    queue,
    logger: silent,
    restOptions: { api: fake.restApi },
    progressTickMs: 100,
  });
}

type Embed = {
  title?: string;
  description?: string;
  footer?: { text: string };
  fields?: { name: string; value: string }[];
  image?: { url: string };
};
const embedsOf = (m: { embeds: Record<string, unknown>[] }) => m.embeds as Embed[];
const buttonsOf = (m: FakeMessage) =>
  (m.components as { components: { custom_id: string; label: string }[] }[]).flatMap((r) => r.components);

function replyOf(interactionId: string): FakeMessage | undefined {
  return fake.messages(ID.channel).find((m) => m.interactionId === interactionId);
}

async function planFor(user: FakeUser, name: string, options: Record<string, string | boolean>) {
  const sent = fake.command({ user, name, options });
  const plan = await fake.waitFor(() => {
    const m = replyOf(sent.id);
    return m && buttonsOf(m).length > 0 ? m : undefined;
  }, `the /${name} plan`);
  const confirm = buttonsOf(plan).find((b) => b.label === "Confirm")?.custom_id as string;
  const cancel = buttonsOf(plan).find((b) => b.label === "Cancel")?.custom_id as string;
  return { sent, plan, confirm, cancel, planId: confirm.split(":")[2] as string };
}

beforeAll(async () => {
  const cluster = new LabClusterBuilder({ nodes: 3, seed: 11 })
    .vm(101, { node: "node1", workload: "idle", memoryGiB: 1 })
    .vm(102, { node: "node1", workload: "video", memoryGiB: 2 })
    .vm(104, { node: "node1", workload: "idle", hostpci: ["0000:01:00.0"] })
    .vm(201, { node: "node2", workload: "idle", memoryGiB: 1 })
    .build();
  lab = await startLab({ port: 0, cluster, timeScale: 40, authFailureDelayMs: 0 });
  pve = labPveClient(lab);
  redis = createRedis("redis://127.0.0.1:6379");
  fake = await startFakeDiscord({
    applicationId: ID.app,
    guildId: ID.guild,
    channelIds: [ID.channel, ID.otherChannel],
    roles: [
      { id: ID.operators, name: "operators" },
      { id: ID.viewers, name: "viewers" },
      { id: ID.notify, name: "on-call" },
    ],
    token: TOKEN,
  });
  config = loadConfig({
    env: {
      ...labConnectionEnv(lab),
      REDIS_PREFIX: prefix,
      QOS_ALLOW_LOOPBACK: "1",
      QOS_BASELINE_MS: "300",
      QOS_TAIL_MS: "300",
      MIGRATION_POLL_INTERVAL_MS: "100",
      MIGRATION_HEADROOM_BYTES: "0",
      DISCORD_TOKEN: TOKEN,
      DISCORD_APPLICATION_ID: ID.app,
      DISCORD_GUILD_ID: ID.guild,
      DISCORD_CHANNEL_ID: ID.channel,
      DISCORD_OPERATOR_ROLE_IDS: ID.operators,
      DISCORD_VIEWER_ROLE_IDS: ID.viewers,
      DISCORD_NOTIFY_ROLE_ID: ID.notify,
      LOG_LEVEL: "silent",
    },
  });
  events = createEventLog({ redis, prefix });
  queue = createEvacuationQueue({ redis, prefix, events });
  runtime = startWorkerRuntime({
    config,
    redis,
    pve,
    logger: silent,
    policy: { stalledIntervalMs: 2000, lockTtlMs: 2000 },
  });
  bot = newBot();
  await bot.start();
});

afterAll(async () => {
  await bot?.stop();
  await runtime?.close();
  await queue?.queue.obliterate({ force: true });
  await queue?.close();
  await deleteByPrefix(redis, prefix);
  await redis.quit();
  await fake?.close();
  await pve?.close();
  await lab?.close();
});

describe("the Discord bot against the fake Discord and the lab", () => {
  it("autocompletes node names from the cluster view", async () => {
    const sent = fake.autocomplete({
      user: alice,
      name: "evacuate",
      options: { node: "node" },
      focused: "node",
    });
    const ack = await fake.waitFor(() => fake.callbackOf(sent.id), "autocomplete answer");
    const body = ack.body as { type: number; data: { choices: { name: string; value: string }[] } };
    expect(body.type).toBe(8);
    expect(body.data.choices.map((c) => c.value)).toEqual(["node1", "node2", "node3"]);
    expect(body.data.choices[0]?.name).toMatch(/^node1 \(online, 3 running\)$/);
  });

  it("refuses /evacuate to a viewer, plainly and only to them, and audits it", async () => {
    const sent = fake.command({ user: vera, name: "evacuate", options: { node: "node1" } });
    const ack = await fake.waitFor(() => fake.callbackOf(sent.id), "the refusal");
    expect(ack.body).toMatchObject({ type: 4, data: { flags: 64 } });
    expect((ack.body as { data: { content: string } }).data.content).toBe(
      `You need an operator role (<@&${ID.operators}>) to run this.`,
    );
    // The refusal goes out first; the audit entry follows it.
    let log = await events.read({ type: "command.denied" });
    for (let i = 0; i < 100 && log.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      log = await events.read({ type: "command.denied" });
    }
    expect(log.map((e) => e.event)).toContainEqual(
      expect.objectContaining({
        actor: { kind: "discord", id: vera.id, name: "vera" },
        command: "/evacuate node:node1",
      }),
    );
    // A command from a channel that is not allowed is refused too, even for an operator.
    const elsewhere = fake.command({ user: alice, name: "nodes", channelId: ID.otherChannel });
    const no = await fake.waitFor(() => fake.callbackOf(elsewhere.id), "the channel refusal");
    expect((no.body as { data: { content: string } }).data.content).toContain("not accepted in this channel");
  });

  it("runs a whole /evacuate: plan, refusal of someone else's click, confirm, progress, results, summary", async () => {
    const { sent, plan, confirm } = await planFor(alice, "evacuate", { node: "node1" });
    expect(fake.callbackOf(sent.id)?.body).toMatchObject({ type: 5 });
    const [planEmbed] = embedsOf(plan);
    expect(planEmbed?.title).toBe("Evacuation plan for node1");
    expect(planEmbed?.description).toContain("VM 101");
    expect(planEmbed?.description).toContain("VM 102");
    expect(planEmbed?.fields?.find((f) => f.name.startsWith("Blocked (1)"))?.value).toMatch(
      /^VM 104 idle-104: local resource hostpci0 ties it to node1/,
    );
    expect(buttonsOf(plan).map((b) => b.label)).toEqual(["Confirm", "Cancel"]);

    // Bob is an operator too, but not the one who asked.
    const bobClick = fake.click({ user: bob, customId: confirm, messageId: plan.id });
    await fake.waitFor(() => fake.callbackOf(bobClick.id), "ack of bob's click");
    expect(fake.callbackOf(bobClick.id)?.body).toMatchObject({ type: 6 });
    const refusal = await fake.waitFor(
      () =>
        fake.requests.find(
          (r) =>
            r.method === "POST" && r.path === `/webhooks/${ID.app}/${bobClick.token}` && r.body !== undefined,
        ),
      "bob's refusal",
    );
    expect(refusal.body).toMatchObject({
      flags: 64,
      content: "Only alice, who asked for this plan, can confirm or cancel it.",
    });
    expect(buttonsOf(fake.message(plan.id) as FakeMessage)).toHaveLength(2);

    const aliceClick = fake.click({ user: alice, customId: confirm, messageId: plan.id });
    await fake.waitFor(
      () => buttonsOf(fake.message(plan.id) as FakeMessage).length === 0,
      "the settled plan",
    );
    const settled = embedsOf(fake.message(plan.id) as FakeMessage)[0];
    expect(settled?.footer?.text).toMatch(/^Confirmed by alice: queued as ev\d{14}[0-9a-f]{6}\.$/);
    const queued = await fake.waitFor(
      () =>
        fake.requests.find(
          (r) => r.method === "POST" && r.path === `/webhooks/${ID.app}/${aliceClick.token}`,
        ),
      "alice's confirmation",
    );
    expect(queued.body).toMatchObject({ flags: 64 });
    expect((queued.body as { content: string }).content).toMatch(/^Queued 2 migration\(s\)/);

    const summary = await fake.waitFor(
      () =>
        fake
          .messages(ID.channel)
          .find(
            (m) => m.via === "channel" && embedsOf(m)[0]?.title?.startsWith("Evacuation of node1 completed"),
          ),
      "the summary",
      30_000,
    );
    expect(embedsOf(summary)[0]?.title).toBe("Evacuation of node1 completed: 2 moved");
    expect(summary.content).toBe(`<@&${ID.notify}>`);

    const posted = fake.requests.filter(
      (r) => r.method === "POST" && r.path === `/channels/${ID.channel}/messages`,
    );
    expect(posted.every((r) => r.auth === "bot")).toBe(true);
    expect(
      posted.every(
        (r) => (r.body as { allowed_mentions: { parse: string[] } }).allowed_mentions.parse.length === 0,
      ),
    ).toBe(true);

    // One live progress message, mentioning the role once, edited as the VMs moved.
    const progress = fake
      .messages(ID.channel)
      .filter((m) => m.via === "channel" && m.content.includes("started by"));
    expect(progress).toHaveLength(1);
    const live = progress[0] as FakeMessage;
    expect(live.content).toBe(
      `<@&${ID.notify}> Evacuation of node1 started by alice: 2 migration(s), one at a time.`,
    );
    await fake.waitFor(
      () => embedsOf(live)[0]?.title === "Evacuation of node1: finished",
      "the final progress edit",
    );
    expect(live.edits).toBeGreaterThanOrEqual(1);
    expect(embedsOf(live)[0]?.description).toMatch(/^\[#{20}\] 100% {2}2 of 2 done/);
    const shown = live.history.map((h) => (h.embeds[0] as Embed).description ?? "");
    expect(shown.some((d) => d.includes("waiting") || d.includes("▶"))).toBe(true);

    // One result per VM: PVE's downtime next to what clients saw, the grades, the chart.
    const results = fake
      .messages(ID.channel)
      .filter((m) => m.via === "channel" && embedsOf(m)[0]?.title?.includes(": moved"));
    expect(results.map((m) => embedsOf(m)[0]?.title)).toEqual([
      expect.stringMatching(/^✅ VM 101 \(idle-101\) node1 → node[23]: moved$/),
      expect.stringMatching(/^✅ VM 102 \(video-102\) node1 → node[23]: moved$/),
    ]);
    for (const m of results) {
      const fields = Object.fromEntries((embedsOf(m)[0]?.fields ?? []).map((f) => [f.name, f.value]));
      expect(fields["PVE downtime"]).toMatch(/^\d+ ms$/);
      expect(fields["Client-observed downtime"]).toMatch(/^\d+(\.\d)? m?s$/);
      expect(fields["Migration time"]).toMatch(/\d/);
      expect(fields["Data transferred"]).toMatch(/iB/);
      expect(fields["QoS grades"]).toMatch(/delay: .* — (very good|good|fair|bad)/);
      const vmid = /VM (\d+)/.exec(embedsOf(m)[0]?.title ?? "")?.[1];
      expect(embedsOf(m)[0]?.image?.url).toBe(`attachment://chart-${vmid}.png`);
      expect(m.files).toHaveLength(1);
      expect(m.files[0]?.name).toBe(`chart-${vmid}.png`);
      expect(m.files[0]?.data.subarray(1, 4).toString()).toBe("PNG");
    }
    expect(results).toHaveLength(2);
  }, 45_000);

  it("keeps a plan's buttons working after a restart, and posts what finished while it was down", async () => {
    const { plan, confirm } = await planFor(alice, "migrate", { vm: "201", target: "node3" });
    expect(embedsOf(plan)[0]?.title).toBe("Migration plan: VM 201 → node3");
    await bot.stop();
    bot = newBot();
    await bot.start();
    fake.click({ user: alice, customId: confirm, messageId: plan.id });
    await fake.waitFor(
      () => buttonsOf(fake.message(plan.id) as FakeMessage).length === 0,
      "the confirmed plan",
    );
    const footer = embedsOf(fake.message(plan.id) as FakeMessage)[0]?.footer?.text ?? "";
    expect(footer).toMatch(/^Confirmed by alice: queued as ev/);
    const evacuationId = /queued as (ev[0-9a-f]+)/.exec(footer)?.[1] as string;

    // The bot goes down while VM 201 migrates; the worker carries on.
    const started = (m: FakeMessage) => m.content.includes("Migration from node2 started by alice");
    await fake.waitFor(() => fake.messages(ID.channel).find(started), "the progress message");
    await bot.stop();
    for (let i = 0; i < 300 && (await queue.store.get(evacuationId))?.status === "running"; i++)
      await new Promise((r) => setTimeout(r, 50));
    expect((await queue.store.get(evacuationId))?.status).toBe("finished");

    bot = newBot();
    await bot.start();
    const summary = await fake.waitFor(
      () =>
        fake
          .messages(ID.channel)
          .find((m) => embedsOf(m)[0]?.title === "Migration from node2 completed: 1 moved"),
      "the summary posted after the restart",
      30_000,
    );
    expect(summary.content).toBe(`<@&${ID.notify}>`);
    const results = fake
      .messages(ID.channel)
      .filter((m) => embedsOf(m)[0]?.title === "✅ VM 201 (idle-201) node2 → node3: moved");
    expect(results).toHaveLength(1);
    // Still the one progress message, brought to its end by the new bot.
    const progress = fake.messages(ID.channel).filter(started);
    expect(progress).toHaveLength(1);
    await fake.waitFor(
      () => embedsOf(progress[0] as FakeMessage)[0]?.title === "Migration from node2: finished",
      "the final edit of the progress message",
    );
  }, 45_000);

  it("answers viewers' read-only commands: /nodes, and /audit with its CSV", async () => {
    const nodes = fake.command({ user: vera, name: "nodes" });
    const shown = await fake.waitFor(() => replyOf(nodes.id), "the /nodes reply");
    expect(embedsOf(shown)[0]?.title).toBe("Cluster: 3 node(s), quorate");
    expect(embedsOf(shown)[0]?.description).toMatch(
      /^🟢 node1: online · memory .* · 1 running of 1 guests$/m,
    );

    const audit = fake.command({ user: vera, name: "audit", options: { node: "node1", limit: 500 } });
    expect((await fake.waitFor(() => fake.callbackOf(audit.id), "the /audit ack")).body).toMatchObject({
      type: 5,
      data: { flags: 64 },
    });
    const reply = await fake.waitFor(
      () =>
        fake.requests.find(
          (r) => r.method === "PATCH" && r.path === `/webhooks/${ID.app}/${audit.token}/messages/@original`,
        ),
      "the /audit reply",
    );
    expect((reply.body as { embeds: Embed[] }).embeds[0]?.title).toBe("Audit log (node node1)");
    expect(reply.files.map((f) => f.name)).toEqual(["audit.csv"]);
    const csv = reply.files[0]?.data.toString() ?? "";
    expect(csv.split("\r\n")[0]).toBe(
      "id,at,actor_kind,actor_id,actor_name,type,evacuation_id,node,vmid,summary,event,hash",
    );
    expect(csv).toContain(",evacuation.confirmed,");
    expect(csv).toContain(",migration.result,");
  });

  it("says clearly when a plan expired, and settles a cancelled one", async () => {
    const expired = await planFor(alice, "return", { node: "node1" });
    expect(embedsOf(expired.plan)[0]?.title).toBe("Return plan: back to node1");
    await redis.del(`${prefix}:plan:${expired.planId}`);
    const late = fake.click({ user: alice, customId: expired.confirm, messageId: expired.plan.id });
    const answer = await fake.waitFor(
      () => fake.requests.find((r) => r.method === "POST" && r.path === `/webhooks/${ID.app}/${late.token}`),
      "the expiry answer",
    );
    expect(answer.body).toMatchObject({ flags: 64 });
    expect((answer.body as { content: string }).content).toMatch(
      /^This plan has expired: a plan can be confirmed for 10 min/,
    );

    const again = await planFor(alice, "return", { node: "node1" });
    fake.click({ user: alice, customId: again.cancel, messageId: again.plan.id });
    await fake.waitFor(
      () => buttonsOf(fake.message(again.plan.id) as FakeMessage).length === 0,
      "the cancelled plan",
    );
    expect(embedsOf(fake.message(again.plan.id) as FakeMessage)[0]?.footer?.text).toBe(
      "Cancelled by alice: nothing was queued.",
    );
    const twice = fake.click({ user: alice, customId: again.confirm, messageId: again.plan.id });
    const second = await fake.waitFor(
      () => fake.requests.find((r) => r.method === "POST" && r.path === `/webhooks/${ID.app}/${twice.token}`),
      "the answer to a second click",
    );
    expect((second.body as { content: string }).content).toBe("This plan was already cancelled by alice.");
  });
});
