/**
 * Who may run what, as a pure decision over the invocation and the Discord configuration.
 * Changing commands (evacuate, migrate, cancel, return, plan buttons) need an operator role; read-only
 * ones (status, audit, nodes) need a viewer or operator role, or nothing when no viewer role is
 * configured. Everything happens only in the configured guild and allowed channels.
 */

export type AccessLevel = "change" | "read";

export interface AccessPolicy {
  guildId: string;
  channelId: string;
  allowedChannelIds: readonly string[];
  operatorRoleIds: readonly string[];
  viewerRoleIds: readonly string[];
}

export interface Invocation {
  guildId: string | undefined;
  channelId: string;
  roles: readonly string[];
}

export type AccessDecision = { allowed: true } | { allowed: false; reason: string };

export function allowedChannels(policy: AccessPolicy): readonly string[] {
  return policy.allowedChannelIds.length > 0 ? policy.allowedChannelIds : [policy.channelId];
}

export function decideAccess(policy: AccessPolicy, who: Invocation, level: AccessLevel): AccessDecision {
  if (who.guildId === undefined)
    return { allowed: false, reason: "This bot only takes commands in its server, not in direct messages." };
  if (who.guildId !== policy.guildId)
    return { allowed: false, reason: "This bot only takes commands in the server it is configured for." };
  const channels = allowedChannels(policy);
  if (!channels.includes(who.channelId))
    return {
      allowed: false,
      reason: `Commands are not accepted in this channel; use ${channels.map((c) => `<#${c}>`).join(", ")}.`,
    };
  const has = (ids: readonly string[]) => ids.some((id) => who.roles.includes(id));
  if (level === "change") {
    if (policy.operatorRoleIds.length === 0)
      return {
        allowed: false,
        reason: "No operator role is configured (DISCORD_OPERATOR_ROLE_IDS), so nobody may change anything.",
      };
    if (!has(policy.operatorRoleIds))
      return {
        allowed: false,
        reason: `You need an operator role (${roleList(policy.operatorRoleIds)}) to run this.`,
      };
    return { allowed: true };
  }
  if (policy.viewerRoleIds.length === 0 || has(policy.viewerRoleIds) || has(policy.operatorRoleIds))
    return { allowed: true };
  return {
    allowed: false,
    reason: `You need a viewer or operator role (${roleList([...policy.viewerRoleIds, ...policy.operatorRoleIds])}) to run this.`,
  };
}

function roleList(ids: readonly string[]): string {
  return ids.map((id) => `<@&${id}>`).join(", ");
}
